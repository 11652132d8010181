"""One DPA rendered to PDF (service.generate: annexes from the database, Jinja2, WeasyPrint,
sealing, the version row). Target: <= 1.5 s. The first render of a process also loads
WeasyPrint, fonts and templates: shown apart, cold (as `govsms dpa render` pays it) and in a
served process, which warms up in the background at start (``render.warm_up``)."""

from __future__ import annotations

import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Timer, session_factory, settings  # noqa: E402
from govsms.auth import Actor  # noqa: E402
from govsms.accounts.service import create_account  # noqa: E402
from govsms.db import session_scope  # noqa: E402
from govsms.dpa import registry, service  # noqa: E402
from govsms.migrate import upgrade  # noqa: E402

ROUNDS = 5


def main(served: bool = False) -> None:
    data_dir = Path(tempfile.mkdtemp())
    url = f"sqlite:///{data_dir / 'bench.db'}"
    upgrade(url)
    engine, factory, keys = session_factory(url, data_dir)
    config = settings(data_dir).model_copy(update={"provider_name": "Leverantören AB", "provider_org_number": "559900-1122"})
    now = datetime.now(UTC)
    with session_scope(factory) as session:
        provider = create_account(session, name="Leverantören AB", org_number="559900-1122", is_provider=True, now=now, actor=Actor.platform())
        for n in range(3):
            registry.add_subprocessor(
                session, Actor.system(provider.id, provider.name), name=f"Underbiträde {n} AB", org_number=f"55600{n}-0000",  # type: ignore[arg-type]
                country="SE", city="Stockholm", purpose="Drift av sms-förmedling", now=now,
            )
        account = create_account(session, name="Kommunen i Åre", org_number="212000-2346", now=now, actor=Actor.platform())
    actor = Actor.system(account.id, account.name)  # type: ignore[arg-type]
    if served:
        from govsms.dpa.render import warm_up

        warm_up()
    times = []
    for round_ in range(1 if served else ROUNDS + 1):
        with session_scope(factory) as session:
            # A new title each round, so each round is a new version rendered for real.
            service.save_details(
                session, actor,
                {"signatory_name": "Åsa Öberg", "signatory_title": f"Kommundirektör {round_}", "contact_name": "Sören Ärlig",
                 "contact_email": "soren@are.example"},
                now=now,
            )
        with Timer() as timer, session_scope(factory) as session:
            version, created = service.generate(session, config, keys, actor, lang="sv" if round_ % 2 else "en", now=now)
        assert created
        times.append(timer.seconds)
    if served:
        print(f"  first in a served process (warmed up at start) {times[0]:.2f} s")
        return
    print("DPA rendered to PDF (generate: annexes, templates, WeasyPrint, sealing, stored version):")
    print(f"  first in a cold process {times[0]:.2f} s; then median {statistics.median(times[1:]):.2f} s, "
          f"best {min(times[1:]):.2f} s of {ROUNDS} ({', '.join(f'{t:.2f}' for t in times[1:])}); "
          f"{len(version.pdf_ct) // 1024} KB sealed")
    engine.dispose()


if __name__ == "__main__":
    if "--served" in sys.argv:
        main(served=True)
    else:
        main()
        import subprocess

        subprocess.run([sys.executable, __file__, "--served"], check=True)
