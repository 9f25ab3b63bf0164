"""End staff sessions now: a stolen laptop, a leaver, or every session after an incident."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.staff.models import StaffSession
from core.staff.sessions import revoke


class Command(BaseCommand):
    help = "Revoke staff sessions: one user's (--user) or everyone's (--all)."

    def add_arguments(self, parser: CommandParser) -> None:
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", help="the username whose sessions end")
        who.add_argument("--all", action="store_true", help="every staff session")

    def handle(self, *args: Any, **options: Any) -> None:
        sessions = StaffSession.objects.all()
        if options["user"]:
            sessions = sessions.filter(user__username=options["user"])
            if not sessions.exists():
                raise CommandError(f"no sessions for {options['user']!r}")
        self.stdout.write(f"{revoke(sessions)} session(s) revoked.\n")
