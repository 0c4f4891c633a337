"""The only Airflow-aware library code: connections → clients, task bodies, callbacks."""
