"""Everything the catalog keeps in the shared cache, and the one seam pages pass through.

- `pages.serve()`: the seam every cacheable catalog answer (home, listings,
  category pages, search, product pages, the API) goes through. It keys the
  answer by kind, path and normalised query, answers from the shared cache
  when it can, renders at most once per key when it must, and fills in the
  per-shopper parts (`fragments`) on every request.
- `copies.Copies`: the policy behind it, for any value made from the
  database: fresh while the catalog version it was made at is current, one
  render per key, the previous copy meanwhile, the last good copy while the
  database cannot be reached.
- `version`: the catalog version, an integer in the shared cache that every
  committed catalog write moves on.
- `degraded`: what a request answered from old data carries (banner, headers,
  the stale counter).
- `products`: the last good copy of each widget, for the cart while the
  database is down.

Only `core.cache.FailSafeCache` touches the cache server: a cache that is
down costs a render, never an error.
"""
