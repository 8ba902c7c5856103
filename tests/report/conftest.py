"""The report reads real cases: the case store's fixtures."""

from tests.cases.conftest import inverter, store, worked_case  # noqa: F401
