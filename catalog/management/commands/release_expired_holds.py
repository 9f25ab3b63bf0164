"""Cancel orders whose stock hold expired unpaid, returning the stock: run it every minute."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from catalog.services.orders import release_expired_holds


class Command(BaseCommand):
    help = "Cancel unpaid orders past their hold (ORDER_HOLD_MINUTES) and return their stock."

    def handle(self, *args: Any, **options: Any) -> None:
        released = release_expired_holds()
        self.stdout.write(f"{released} expired hold(s) released.\n")
