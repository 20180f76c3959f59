"""Execute chapters in place, keeping each markdown cell's numbers: what ``make notebooks`` runs.

    python book/execute.py chapters/*.ipynb
    python book/execute.py --check chapters/lenet_bn.ipynb   # every failing cell, one line each; writes nothing

Like ``jupyter nbconvert --execute --inplace`` (no cell time limit, no saved widget state), and
more: when execution reaches a markdown cell, its ``{eval}`` expressions are evaluated in the
kernel and stored in the cell's ``user_expressions`` metadata, in jupyterlab-myst's format (the
kernel's ``user_expressions`` reply). A saved chapter opened in JupyterLab then shows its numbers
before anything runs; running it evaluates them afresh.

``--check`` runs every cell even past a failure and writes nothing back: it lists each cell that
failed, one line each, so one run shows every paragraph whose declared verdicts the runs no longer
give (``findings.written_for``), not only the first.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

EVAL = re.compile(r"\{eval\}`([^`]+)`")


class EvalClient(NotebookClient):
    """An nbclient that also evaluates the ``{eval}`` roles of markdown cells, in order. With ``allow_errors``, a role
    that cannot be evaluated is listed in ``failures`` (cell index, what failed) instead of stopping the run."""

    failures: list[tuple[int, str]]

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "markdown":
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        expressions = list(dict.fromkeys(EVAL.findall(cell.source)))
        cell.metadata.pop("user_expressions", None)
        if expressions:
            msg_id = self.kc.execute("", silent=True, store_history=False,
                                     user_expressions={str(i): e for i, e in enumerate(expressions)})
            reply = await self.async_wait_for_reply(msg_id, cell)
            results = reply["content"].get("user_expressions", {})
            cell.metadata["user_expressions"] = [{"expression": e, "result": results[str(i)]}
                                                 for i, e in enumerate(expressions)]
            failed = [e for e, r in zip(expressions, (results[str(i)] for i in range(len(expressions))))
                      if r.get("status") != "ok"]
            if failed:
                message = f"{', '.join(failed)} could not be evaluated"
                if not self.allow_errors:
                    raise RuntimeError(f"cell {cell_index}: {message}")
                self.failures.append((cell_index, message))
        return cell


def execute(path: Path, check: bool = False) -> list[str]:
    """Run every cell of the notebook at ``path`` in its folder, and write it back. With ``check``, run on past
    failures, write nothing, and return one line per failed cell."""
    notebook = nbformat.read(path, as_version=4)
    client = EvalClient(notebook, timeout=None, store_widget_state=False, kernel_name="python3", allow_errors=check,
                        resources={"metadata": {"path": str(path.parent)}})
    client.failures = []
    client.execute()
    if not check:
        nbformat.write(notebook, path)
        return []
    for index, cell in enumerate(notebook.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                evalue = (out.get("evalue") or "").strip().splitlines()
                client.failures.append((index, f"{out['ename']}: {evalue[0] if evalue else ''}"))
    return [f"cell {index}: {message}" for index, message in sorted(client.failures)]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    names = [a for a in argv if a != "--check"]
    if not names:
        print("usage: python book/execute.py [--check] NOTEBOOK.ipynb ...", file=sys.stderr)
        return 2
    for name in names:
        path = Path(name)
        if path.suffix != ".ipynb" or not path.is_file():
            print(f"{name}: not a notebook file (expected an existing .ipynb)", file=sys.stderr)
            return 2
    failed = 0
    for name in names:
        print(f"{'checking' if check else 'executing'} {name}", file=sys.stderr)
        for line in execute(Path(name), check):
            print(f"{name}: {line}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
