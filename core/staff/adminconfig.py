"""The admin's app config, in a module of its own: Django picks one default config per module."""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    """Django's admin, on a site that asks every staff member for a second factor."""

    default_site = "core.staff.site.StaffAdminSite"
