from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.staff.models import StaffSession
from core.staff.sessions import revoke


@admin.register(StaffSession)
class StaffSessionAdmin(admin.ModelAdmin):
    """Who is logged in to the back office, from where, and a way to end it."""

    list_display = ("user", "created_at", "expires_at", "revoked_at", "ip_address", "user_agent")
    list_filter = ("revoked_at",)
    list_select_related = ("user",)
    search_fields = ("user__username", "ip_address")
    readonly_fields = list_display
    actions = ("revoke_sessions",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Revoke the selected sessions (logs them out at once)")
    def revoke_sessions(self, request: HttpRequest, queryset: QuerySet[StaffSession]) -> None:
        ended = revoke(queryset)
        self.message_user(request, f"{ended} session(s) revoked.", messages.SUCCESS)
