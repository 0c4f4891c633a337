"""Developer tools, never imported by the night and not needed in production.

- :mod:`matinale.dev.local`: the ``make run`` demo and ``make up`` on one machine;
- :mod:`matinale.dev.seaweed`: a real local S3 server (SeaweedFS, from the ``local`` extra);
- :mod:`matinale.dev.stack`: the production topology run natively (``make stack-test``);
- :mod:`matinale.dev.sample`: fictional supporters for demos, tests and benchmarks;
- :mod:`matinale.dev.bench`: the benchmark (``python -m matinale.dev.bench run``).

Nothing here is imported at package level: each tool is imported where it is used.
"""
