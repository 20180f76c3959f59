"""Execute chapters in place, keeping each markdown cell's numbers: what ``make notebooks`` runs.

    python book/execute.py chapters/*.ipynb

Like ``jupyter nbconvert --execute --inplace`` (no cell time limit, no saved widget state), and
more: when execution reaches a markdown cell, its ``{eval}`` expressions are evaluated in the
kernel and stored in the cell's ``user_expressions`` metadata, in jupyterlab-myst's format (the
kernel's ``user_expressions`` reply). A saved chapter opened in JupyterLab then shows its numbers
before anything runs; running it evaluates them afresh.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

EVAL = re.compile(r"\{eval\}`([^`]+)`")


class EvalClient(NotebookClient):
    """An nbclient that also evaluates the ``{eval}`` roles of markdown cells, in order."""

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
                raise RuntimeError(f"cell {cell_index}: {', '.join(failed)} could not be evaluated")
        return cell


def execute(path: Path) -> None:
    """Run every cell of the notebook at ``path`` in its folder, and write it back."""
    notebook = nbformat.read(path, as_version=4)
    EvalClient(notebook, timeout=None, store_widget_state=False, kernel_name="python3",
               resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(notebook, path)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python book/execute.py NOTEBOOK.ipynb ...", file=sys.stderr)
        return 2
    for name in argv:
        path = Path(name)
        if path.suffix != ".ipynb" or not path.is_file():
            print(f"{name}: not a notebook file (expected an existing .ipynb)", file=sys.stderr)
            return 2
    for name in argv:
        print(f"executing {name}", file=sys.stderr)
        execute(Path(name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
