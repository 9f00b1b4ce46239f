"""The REST detection service (FastAPI + uvicorn); see :mod:`deepsentry.service.app`."""
