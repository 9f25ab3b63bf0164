"""Staff's side of the status page: incidents with their updates, and maintenance windows.

An incident's status follows its latest update (Investigating -> Identified
-> Monitoring -> Resolved), so staff post an update rather than edit a
field. Saving an automatic incident hands it to staff: the automation stops
writing it (docs/communication-plan.md, "Handing over").
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils import timezone

from core.status.models import (
    COMPONENT_CHOICES,
    Incident,
    IncidentStatus,
    IncidentUpdate,
    Maintenance,
)


class ComponentsField(forms.MultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("max_length", None)
        kwargs.pop("base_field", None)
        super().__init__(choices=COMPONENT_CHOICES, **kwargs)


class IncidentForm(forms.ModelForm):
    components = ComponentsField(required=False, help_text="Which parts of the shop it affects.")
    postmortem_url = forms.URLField(
        required=False, assume_scheme="https", label="Postmortem link", help_text="Optional."
    )

    class Meta:
        model = Incident
        fields = ("name", "impact", "components", "postmortem_url")


class MaintenanceForm(forms.ModelForm):
    components = ComponentsField(help_text="Shown as under maintenance during the window.")

    class Meta:
        model = Maintenance
        fields = ("name", "body", "components", "scheduled_for", "scheduled_until", "cancelled")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("scheduled_for"), data.get("scheduled_until")
        if start and end and end <= start:
            raise forms.ValidationError("The window must end after it starts.")
        return data


class UpdateFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        adding = self.instance.pk is None
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if adding and not kept:
            raise forms.ValidationError("Post a first update: what shoppers are told.")


class IncidentUpdateInline(admin.StackedInline):
    model = IncidentUpdate
    formset = UpdateFormSet
    fields = ("status", "body", "display_at")
    extra = 1


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    form = IncidentForm
    inlines = (IncidentUpdateInline,)
    list_display = ("name", "status", "impact", "source", "automated", "created_at", "resolved_at")
    list_filter = ("status", "impact", "source", "automated")
    search_fields = ("name", "public_id")
    readonly_fields = ("public_id", "status", "source", "automated", "created_at", "resolved_at")
    fieldsets = (
        (None, {"fields": ("name", "impact", "components", "postmortem_url")}),
        (
            "State",
            {"fields": ("public_id", "status", "source", "automated", "created_at", "resolved_at")},
        ),
    )

    def save_model(self, request: HttpRequest, obj: Incident, form: Any, change: bool) -> None:
        if obj.automated:
            obj.automated = False
            messages.info(
                request,
                "This automatic incident is yours now: the automation "
                "no longer changes it. Resolve it when shoppers are fine.",
            )
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        incident: Incident = form.instance
        latest = incident.updates.order_by("-display_at", "-id").first()
        if latest is not None and latest.status != incident.status:
            incident.status = latest.status
            incident.resolved_at = (
                timezone.now() if latest.status == IncidentStatus.RESOLVED else None
            )
            incident.save(update_fields=["status", "resolved_at"])


@admin.register(Maintenance)
class MaintenanceAdmin(admin.ModelAdmin):
    form = MaintenanceForm
    list_display = ("name", "scheduled_for", "scheduled_until", "cancelled")
    list_filter = ("cancelled",)
    search_fields = ("name",)

    def save_model(self, request: HttpRequest, obj: Maintenance, form: Any, change: bool) -> None:
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
