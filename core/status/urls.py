from django.urls import path

from core.status import feeds, views

app_name = "status"
urlpatterns = [
    path("status/", views.page, name="page"),
    path("status/summary.json", views.summary_json, name="summary"),
    path("status/incidents.atom", feeds.IncidentFeed(), name="feed"),
    path("status/incidents/<str:public_id>/", views.incident, name="incident"),
    path("status/alertmanager", views.alertmanager, name="alertmanager"),
]
