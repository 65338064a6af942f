"""How much memory and disk a run will take, estimated before it starts.

Validation bounds each key on its own (at most a million households, a thousand
word-of-mouth links, ...), but keys multiply: 60,000 households with 1,000 links each
are within both limits and need tens of gigabytes. :func:`estimate` adds up what a run
holds at its peak from the sizes that drive it, and :func:`check` refuses a run whose
estimate is above a limit the user can raise (``--max-memory`` on the command line,
``max_memory=`` in :func:`maze.app.api.run`, or the ``MAZE_MAX_MEMORY`` environment
variable), with the estimate in the message.

The coefficients are fitted to peak resident memory measured on the presets
(``python benchmarks/bench_memory.py`` prints estimate and measurement side by side) and
rounded up, so that the estimate errs high; docs/explanation/safety.md says how to redo
the fit.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from maze.scenario import Scenario, ScenarioError

#: Resident memory of the interpreter with maze, pandas, SimPy and networkx imported.
BASE_BYTES = 260_000_000
#: Per household: its population row and simulation process.
HOUSEHOLD_BYTES = 800
#: Per request (one service asked for in one year): its journey, events and log rows
#: (measured with its household: 1.8 to 3.5 KB, the most in cities of 20,000).
REQUEST_BYTES = 1_500
#: Per word-of-mouth link (an edge of the social graph as it is drawn and kept as an
#: adjacency, and the stories it carries; measured 60 to 140 bytes).
LINK_BYTES = 150
#: Per office (a station, its calendar and queue).
OFFICE_BYTES = 50_000
#: Written per request (events, journeys; zstd Parquet) and per household (households table).
OUTPUT_REQUEST_BYTES = 300
OUTPUT_HOUSEHOLD_BYTES = 100
#: report.html and the small files.
OUTPUT_FIXED_BYTES = 5_500_000
#: Days in a year: with ``[lives]`` a horizon of several years brings new households each
#: year and a request per need each year (an upper bound: families that leave or are
#: served stop asking). Without it, each household asks once, whatever the horizon.
YEAR_DAYS = 365.0
#: Share of the machine's physical memory a run may use by default.
DEFAULT_SHARE = 0.8
ENV_LIMIT = "MAZE_MAX_MEMORY"


@dataclass(frozen=True)
class Estimate:
    """A run's expected peak memory and output size (bytes), and what they come from."""

    households: int
    requests: int
    links: int
    memory: int
    output: int

    def describe(self) -> str:
        return (f"about {human_size(self.memory)} of memory and "
                f"{human_size(self.output)} of output "
                f"({self.households:,} households, {self.requests:,} requests"
                + (f", {self.links:,} word-of-mouth links" if self.links else "") + ")")


def human_size(n: float) -> str:
    """``1.2 GB``: decimal units, as disks and ``free -h --si`` count."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _households(s: Scenario) -> int:
    pop = s.population
    if pop.arrivals.process == "poisson" and pop.arrivals.rate is not None:
        a = pop.arrivals
        end = min(s.city.horizon if a.end is None else a.end, s.city.horizon)
        drawn = int(a.rate * max(0.0, end - a.start) * 1.2 + 50)
        return min(drawn, pop.households) if pop.households is not None else drawn
    return int(pop.households or 0)


def estimate(s: Scenario) -> Estimate:
    """The peak memory and output size of one run of ``s`` (an upper estimate)."""
    n = _households(s)
    needs = sum(g.share * sum(g.needs.values()) for g in s.population.groups)
    years = 1.0
    lives = getattr(s, "lives", None)
    if lives is not None:  # households stay, new ones arrive each year, needs come back
        years = max(1.0, s.city.horizon / YEAR_DAYS)
        yearly = lives.in_migration if lives.in_migration is not None else n
        n += int(yearly * (math.ceil(years) - 1))
    requests = int(n * needs * years) + 1
    links = 0
    wom = s.mechanisms.get("word_of_mouth")
    if wom and wom.get("enabled", True):
        k = int(wom.get("links", 4))
        migrants = sum(g.share for g in s.population.groups if g.hukou == "migrant")
        links = int(n * migrants * min(k, max(0, n - 1)) / 2)
    memory = (BASE_BYTES + n * HOUSEHOLD_BYTES + requests * REQUEST_BYTES
              + links * LINK_BYTES + len(s.offices) * OFFICE_BYTES)
    output = (OUTPUT_FIXED_BYTES + requests * OUTPUT_REQUEST_BYTES
              + n * OUTPUT_HOUSEHOLD_BYTES)
    return Estimate(households=n, requests=requests, links=links, memory=int(memory),
                    output=int(output))


def physical_memory() -> int | None:
    """Bytes of RAM on this machine, or None where the system does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def parse_size(text: str | int | float) -> int:
    """``"4G"``, ``"500M"``, ``"2.5GB"``, ``"1e9"`` or a number of bytes, as bytes."""
    if isinstance(text, bool):
        raise ValueError("a size is a number of bytes or text such as 4G")
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGtT]?)[bB]?\s*",
                         text)
        if not m:
            raise ValueError(f"not a size: {text!r} (say 4G, 500M or a number of bytes)")
        value = float(m.group(1)) * 1000 ** " kmgt".index(m.group(2).lower() or " ")
    if not 0 < value < 1e18:
        raise ValueError(f"not a size: {text!r}")
    return int(value)


def _process_limit() -> int | None:
    """The most this process may map or hold: its rlimits and its cgroup's memory.max."""
    limits = []
    try:
        import resource

        for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
            soft, _ = resource.getrlimit(which)
            if soft != resource.RLIM_INFINITY and soft > 0:
                limits.append(int(soft))
    except (ImportError, OSError, ValueError):
        pass
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if text.isdigit():
            limits.append(int(text))
    except OSError:
        pass
    return min(limits) if limits else None


def default_limit() -> int:
    """The memory limit when none is given: ``MAZE_MAX_MEMORY``, else 80% of the least of
    the machine's RAM, the process's address-space and data limits and its cgroup's."""
    env = os.environ.get(ENV_LIMIT)
    if env:
        try:
            return parse_size(env)
        except ValueError as exc:
            raise ScenarioError(str(exc), source=ENV_LIMIT) from None
    candidates = [m for m in (physical_memory(), _process_limit()) if m]
    return int(min(candidates) * DEFAULT_SHARE) if candidates else 16_000_000_000


def peak_memory() -> int | None:
    """This process's peak resident memory (bytes): ``VmHWM``, which, unlike ``ru_maxrss``,
    does not carry over the parent's peak into a process started by fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check(s: Scenario, max_memory: int | str | None = None, source: str = "<scenario>",
          runs_at_once: int = 1) -> Estimate:
    """Refuse a run (or ``runs_at_once`` runs side by side) estimated above the memory limit."""
    est = estimate(s)
    limit = default_limit() if max_memory is None else _limit(max_memory)
    total = est.memory * max(1, runs_at_once)
    if total > limit:
        at_once = f" x {runs_at_once} runs at once" if runs_at_once > 1 else ""
        raise ScenarioError(
            f"this run needs {est.describe()}{at_once}, above the memory limit of "
            f"{human_size(limit)}; make the city smaller, or raise the limit with --max-memory "
            f"(or {ENV_LIMIT}) if the machine has the memory", source=source)
    return est


def _limit(value: int | str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise ScenarioError(str(exc), source="--max-memory") from None
