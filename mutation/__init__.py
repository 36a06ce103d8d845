"""Mutation score of the conformance kit: how many single-point mutants of an adapter it fails.

``operators`` finds every mutation point of a source file, ``runner`` runs the kit against
one mutant in a subprocess, ``classification`` reads the committed verdicts on surviving
mutants, ``report`` renders the score, and ``score`` is the command
(``python -m mutation.score``). See ``docs/kit-strength.md``, section "Mutation score".
"""
