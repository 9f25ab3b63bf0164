"""Data for the data-layer tests: Django's own models, so core/ needs no app of its own."""

import factory
from django.contrib.auth.models import Group


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    name = factory.Sequence(lambda n: f"group-{n}")
