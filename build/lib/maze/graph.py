"""The referral graph: offices as nodes, "who sends whom where, and why" as edges.

Declared referrals come straight from the scenario; the paperwork adds the
edges it implies (an office that asks for a document sends the household to
the office that issues it, which may send it on for a prerequisite), and each
service's fallbacks add edges to private schools and the hometown.
"""

from __future__ import annotations

import networkx as nx

from maze.scenario import Scenario


def referral_graph(scenario: Scenario) -> nx.DiGraph:
    g = nx.DiGraph(name=scenario.city.name)
    g.add_nodes_from((o.name, {"kind": o.kind, "sector": o.sector, "level": o.level,
                               "clerks": o.clerks, "role": o.role}) for o in scenario.offices)
    # Edges are gathered first and added in one call, in the order first met: adding K^2
    # declared referrals one add_edge at a time cost more than the run itself.
    why: dict[tuple[str, str], list[dict[str, object]]] = {}

    def edge(src: str, dst: str, **data: object) -> None:
        if src != dst:
            why.setdefault((src, dst), []).append(data)

    for r in scenario.referrals:
        edge(r.source, r.target, kind="declared", reason=r.reason, probability=r.probability,
             service=r.service)
    docs = scenario.documents
    for doc in docs.values():
        for req in doc.requires:
            issuer = docs[req].issuer
            if doc.issuer and issuer:
                edge(doc.issuer, issuer, kind="documents", reason="documents", document=req)
    for sname, svc in scenario.services.items():
        for d in svc.documents:
            issuer = docs[d].issuer
            if issuer:
                edge(svc.entry, issuer, kind="documents", reason="documents", document=d,
                     service=sname)
        for f in svc.fallback:
            edge(svc.entry, f, kind="fallback", reason="none", service=sname)
    g.add_edges_from((src, dst, {"why": w}) for (src, dst), w in why.items())
    return g
