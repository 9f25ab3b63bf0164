"""The back office's guard: who may reach the admin, and for how long.

- A second factor for every staff login (django-otp, TOTP), with
  `manage.py enrol_staff` to enrol the first superuser from a terminal.
- Lockout of brute-force attempts (django-axes), keyed on the username *and*
  the address together, for a limited time: an attacker locks out only their
  own guesses, never a real staff member logging in from elsewhere, and
  never for ever. A wrong one-time code counts as a failed attempt.
- Staff sessions that can be revoked (core/staff/sessions.py): short-lived,
  registered server-side at login, checked on every authenticated request,
  ended for good at logout or by `manage.py revoke_staff_sessions`.
- The admin's path comes from ADMIN_PATH, so it is not where scripts look.
"""
