"""The home page is WidgetWorld's, rendered from the site's base layout."""

import pytest
from django.test import Client
from pytest_django import DjangoAssertNumQueries


@pytest.mark.django_db
def test_home_page_is_the_widgetworld_storefront(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert "base.html" in [t.name for t in response.templates]
    assert b"WidgetWorld" in response.content


def test_unknown_page_gets_the_friendly_404(client: Client) -> None:
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert b"We couldn't find that page" in response.content


@pytest.mark.django_db
def test_livez_answers_without_the_database(
    client: Client, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(0):
        response = client.get("/livez")

    assert response.content == b"ok\n"
