"""Where the packaged configs live: inside the package, so wheel and editable installs find them."""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CONF_DIR = PACKAGE_DIR / "conf"
EXPERIMENTS_DIR = PACKAGE_DIR / "experiments"
CONFIG_GROUPS = ("data", "model", "loss", "optimizer", "scheduler", "trainer", "logger", "callbacks", "debug")


def group_options(group: str) -> list[str]:
    """Names of the options of a config group (its YAML files)."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def yaml_description(path: Path) -> str:
    """A config's first comment line, without the leading `name:` -- what `lossbench list` prints."""
    for line in path.read_text().splitlines():
        if line.startswith("#") and not line.lstrip("# ").startswith("@"):  # `# @package` is Hydra's
            text = line.lstrip("# ").strip()
            head, sep, tail = text.partition(": ")
            return tail if sep and head == path.stem else text
    return ""
