"""The example exposes no views: it exists for its models and queries."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
