"""Locust release suites with pass/fail gates, and the 2023 incident replay."""
