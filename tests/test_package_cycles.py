"""No two packages of govsms import each other (through any chain of modules): the layers of
pyproject.toml's import-linter contracts say who may import whom; this says nobody comes back."""

from __future__ import annotations

import itertools

import grimp


def test_no_two_govsms_packages_import_each_other() -> None:
    graph = grimp.build_graph("govsms")
    packages = sorted(module for module in graph.modules if module.count(".") == 1 and graph.find_children(module))
    assert {"govsms.accounts", "govsms.audit", "govsms.sending", "govsms.web", "govsms.cli"} <= set(packages), packages
    both_ways = [
        (first, second) for first, second in itertools.combinations(packages, 2)
        if graph.chain_exists(importer=first, imported=second, as_packages=True)
        and graph.chain_exists(importer=second, imported=first, as_packages=True)
    ]
    assert not both_ways, both_ways
