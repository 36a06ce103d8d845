"""The conformance kit: the pytest plugin's machinery, contract catalogue and test helpers.

Adapter authors import ``contract`` and the fixtures' types from here; the tests
themselves live in the ``conformance`` package.
"""
