"""Where the packaged configs live: inside the package, so wheel and editable installs find them."""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CONF_DIR = PACKAGE_DIR / "conf"
EXPERIMENTS_DIR = PACKAGE_DIR / "experiments"
CONFIG_GROUPS = ("data", "model", "loss", "optimizer", "scheduler", "trainer", "logger", "callbacks", "debug")
# Options a user never names: `loss=external` is what `loss=pkg.module:Name` becomes (losses/external.py).
INTERNAL_OPTIONS = {"loss": ("external",)}


def group_options(group: str) -> list[str]:
    """Names of the options of a config group a user chooses from (its YAML files)."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if p.stem not in INTERNAL_OPTIONS.get(group, ()))


def yaml_description(path: Path) -> str:
    """What `lossbench list` prints for a config: its opening comment, without the leading `name:`,
    up to the end of the sentence that the first line is in (a description may wrap over several
    comment lines; it is never cut mid-sentence). Hydra's `# @package` line and the `# Example:`
    line are not part of it."""
    import re

    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.startswith("@"):  # `# @package _global_` is Hydra's
            continue
        if text.startswith("Example:"):
            break
        lines.append(text)
    if not lines:
        return ""
    head, sep, tail = lines[0].partition(": ")
    first = tail if sep and head == path.stem else lines[0]
    if first.endswith((".", "?", "!")) or (first.endswith(")") and first.count("(") == first.count(")")):
        return first  # a whole sentence (or a question with its parenthesis) on the first line
    text = " ".join([first, *lines[1:]])
    end = re.compile(r"[.?!](?=\s+[A-Z(`]|\s*$)")  # a sentence ends before a capital, or at the end
    match = end.search(text, max(len(first) - 1, 0))
    return text[:match.end()] if match else text
