"""Drive PhotoSorter with a real pointer on a real X server: Xvfb, xdotool, the app on Qt's
xcb platform. The core scenario a reviewer goes through, checked on disk and in the window:

1. drag one thumbnail onto another category; 2. select three (click, Ctrl+click) and drag
them onto another category, where they stay selected; 3. Ctrl+Z undoes that drag; 4. Move
to Folders from the toolbar, confirmed in its dialog: every file lands in the folder of the
category the window showed, nothing lost or duplicated, and that folder joins the Folders;
5. Undo (toolbar) puts every file back, byte for byte, and the folder leaves the Folders;
6. the window closes, the app exits 0 and printed nothing on stderr (no Qt warning).

    python -m tests.gui.realx.drive [--keep DIR] [--shots DIR]

Exits 0 when every check passed, 1 (saying what failed) otherwise. Needs Xvfb and xdotool;
screenshots (--shots) need ImageMagick's `import`. The app's folders are fresh temporary
ones, never the user's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
MODEL = f"local-dir:{REPO / 'tests/fixtures/tiny-clip'}"
CATEGORIES = ("Red things", "Blue things", "Green things")
COLOURS = ("red", "blue", "green")
SHAPES = ("circle", "square", "triangle", "star")
SUBFOLDERS = ("", "2024", "2024/summer", "trip")
WAIT_S = 90.0  # for anything the app does; the first sort loads the model


class Failed(Exception):
    """A check failed: the message says which and what was seen."""


def make_photos(folder: Path, n: int = 24) -> None:
    """`n` pictures the tiny model sorts by colour, in sub-folders, and one RAW+JPEG pair."""
    sys.path.insert(0, str(REPO))
    from tests.fixtures.dng import write_dng
    from tests.fixtures.shapes import draw_scene

    rng = random.Random(3)
    for i in range(n):
        colour, shape = COLOURS[i % 3], SHAPES[(i // 3) % 4]
        path = folder / SUBFOLDERS[i % 4] / f"{colour}-{shape}-{i:02d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_scene(shape, colour, rng, (320, 240), busy=False).save(path, quality=90)
    picture = draw_scene("circle", "red", rng, (320, 240), busy=False)
    write_dng(folder / "IMG_1.CR2", picture)
    picture.save(folder / "IMG_1.JPG", quality=90)


def contents(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `folder`."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class Session:
    """One Xvfb, one app, the pointer, and the app's probe file."""

    def __init__(self, work: Path, shots: Path | None) -> None:
        self.work, self.shots = work, shots
        self.photos, self.dest = work / "photos", work / "sorted"
        self.state_path = work / "state.json"
        self.stderr_path = work / "app.stderr"
        self.xvfb: subprocess.Popen | None = None
        self.app: subprocess.Popen | None = None
        self.env: dict[str, str] = {}

    # -- processes -------------------------------------------------------------------------
    def start(self) -> None:
        read, write = os.pipe()  # Xvfb picks a free display and writes its number here
        self.xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(write)
        with os.fdopen(read) as fh:
            display = fh.readline().strip()
        if not display:
            raise Failed("Xvfb did not start")
        self.env = self._app_env(f":{display}")
        config = Path(self.env["PHOTOSORTER_CONFIG_DIR"])
        config.mkdir(parents=True)
        (config / "settings.toml").write_text(
            f"destination = {json.dumps(str(self.dest))}\n", encoding="utf-8"
        )
        categories = self.work / "categories.toml"
        categories.write_text(
            "".join(f'[[category]]\nname = "{n}"\nprompts = ["{c}"]\n\n'
                    for n, c in zip(CATEGORIES, COLOURS, strict=True)),
            encoding="utf-8",
        )  # fmt: skip
        command = [sys.executable, "-m", "tests.gui.realx.probe", str(self.state_path), "gui",
                   str(self.photos), "--categories", str(categories), "--model", MODEL]  # fmt: skip
        with open(self.stderr_path, "wb") as err:
            self.app = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=err
            )

    def _app_env(self, display: str) -> dict[str, str]:
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", HF_HUB_OFFLINE="1")
        for name in ("CONFIG", "DATA", "CACHE"):
            env[f"PHOTOSORTER_{name}_DIR"] = str(self.work / "app" / name.lower())
        env["XDG_CACHE_HOME"] = str(self.work / "app" / "xdg-cache")
        env["XDG_DATA_HOME"] = str(self.work / "app" / "xdg-data")
        env["XDG_CONFIG_HOME"] = str(self.work / "app" / "xdg-config")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        return env

    def stop(self) -> None:
        for proc in (self.app, self.xvfb):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    # -- looking -----------------------------------------------------------------------------
    def state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def wait_for(self, what: str, check: Callable[[dict], object]) -> dict:
        """Poll the probe until `check(state)` is true; returns that state."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if self.app is not None and self.app.poll() is not None:
                err = self.stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise Failed(f"the app exited ({self.app.returncode}) waiting for {what}:\n{err}")
            state = self.state()
            if state and check(state):
                return state
            time.sleep(0.05)
        raise Failed(f"timed out waiting for {what}; last state: {json.dumps(self.state())[:800]}")

    def shot(self, name: str) -> None:
        if self.shots is not None and shutil.which("import"):
            self.shots.mkdir(parents=True, exist_ok=True)
            subprocess.run(["import", "-window", "root", str(self.shots / f"{name}.png")],
                           env=self.env, check=False)  # fmt: skip

    # -- the pointer and keys -------------------------------------------------------------------
    def xdo(self, *args: object) -> None:
        subprocess.run(["xdotool", *map(str, args)], env=self.env, check=True)

    def click(self, at: list[int], *modifiers: str) -> None:
        self.xdo("mousemove", *at)
        for key in modifiers:
            self.xdo("keydown", key)
        self.xdo("click", 1)
        for key in modifiers:
            self.xdo("keyup", key)

    def drag(self, start: list[int], category: str) -> None:
        """Press on `start`, move in steps onto the category's row, release once the list
        shows it as the drop target."""
        self.xdo("mousemove", *start)
        self.xdo("mousedown", 1)
        end = self.state()["categories"][category]
        steps = 12
        for i in range(1, steps + 1):
            x = start[0] + (end[0] - start[0]) * i // steps
            y = start[1] + (end[1] - start[1]) * i // steps
            self.xdo("mousemove", x, y)
            time.sleep(0.03)  # the pace of a hand: each move is one event for Qt's drag
        try:
            self.wait_for(f"{category} as the drop target", lambda s: s["drop_target"] == category)
        finally:
            self.xdo("mouseup", 1)


# -- the scenario ----------------------------------------------------------------------------
def shown(state: dict) -> dict[str, str]:
    """Photo file name -> the category the window shows for it."""
    return {Path(t["path"]).name: t["category"] for t in state.get("tiles", [])}


def visible_in(state: dict, category: str) -> list[dict]:
    """The tiles on screen that the model put in `category` (not those placed by hand)."""
    return [t for t in state["tiles"] if t["category"] == category and t["at"] and not t["manual"]]


def category_of(name: str) -> str:
    """The category a test photo belongs in, from its name ("red-star-09.jpg")."""
    return f"{name.split('-')[0].title()} things"


def scenario(s: Session) -> None:
    s.start()
    total = 25  # 24 photos and a RAW+JPEG pair, one tile

    def sorted_all(st: dict) -> bool:
        return not st["running"] and len(st["tiles"]) == total and all(shown(st).values())

    first = s.wait_for("the photos sorted", sorted_all)
    s.shot("1-sorted")
    wrong = {n: c for n, c in shown(first).items() if c != category_of(n)}
    if wrong != {"IMG_1.JPG": "Red things"}:  # the pair is a red circle
        raise Failed(f"the model sorted these unexpectedly: {wrong}")

    # 1. one thumbnail onto another category
    tile = visible_in(first, "Red things")[0]
    name = Path(tile["path"]).name
    s.drag(tile["at"], "Blue things")
    s.wait_for(f"{name} in Blue things", lambda st: shown(st).get(name) == "Blue things")
    s.shot("2-one-dragged")

    # 2. click, Ctrl+click, Ctrl+click three of one category, then drag them to another
    state = s.state()
    home = max(CATEGORIES, key=lambda c: len(visible_in(state, c)))
    target = next(c for c in CATEGORIES if c != home)
    three = visible_in(state, home)[:3]
    names = sorted(Path(t["path"]).name for t in three)
    s.click(three[0]["at"])
    for t in three[1:]:
        s.click(t["at"], "ctrl")
    s.wait_for("three selected", lambda st: selected(st) == names)
    s.drag(three[1]["at"], target)
    state = s.wait_for(f"the three in {target}", lambda st: shown_in(st, names) == {target})
    s.shot("3-three-dragged")
    if selected(state) != names:  # still shown ("All photos"): still selected
        raise Failed(f"after the drop, {selected(state)} are selected, not {names}")

    # 3. Ctrl+Z undoes the last drag; the first one stays
    s.xdo("key", "ctrl+z")

    def three_back(st: dict) -> bool:
        return shown_in(st, names) == {home} and shown(st)[name] == "Blue things"

    s.wait_for(f"the three back in {home}, {name} still in Blue things", three_back)

    # 4. Move to Folders, confirmed
    before = contents(s.photos)
    state = s.wait_for("the Move button", lambda st: "Move to Folders" in st["toolbar"])
    placed = {n: c for n, c in shown(state).items() if c != "Uncategorized"}  # those move
    s.click(state["toolbar"]["Move to Folders"])
    buttons = s.wait_for("the confirmation", lambda st: st["dialogs"])["dialogs"][0]["buttons"]
    s.shot("4-confirm")
    go = [text for text in buttons if text.startswith("Move ")]
    if go != [f"Move {len(placed)} Photos"]:
        raise Failed(f"the confirmation offers {list(buttons)} for {len(placed)} photos")
    s.click(buttons[go[0]])
    said = f"{len(placed)} photos moved."
    state = s.wait_for(said, lambda st: not st["busy"] and st["message"] == said)
    s.shot("5-moved")
    if str(s.dest) not in state["folders"]:
        raise Failed(f"the destination is not among the folders: {state['folders']}")
    check_moved(s, before, placed)

    # 5. Undo from the toolbar puts every file back
    state = s.wait_for("Undo", lambda st: "Undo" in st["toolbar"])
    s.click(state["toolbar"]["Undo"])
    said = f": {len(placed)} photos moved back."
    state = s.wait_for(said, lambda st: not st["busy"] and st["message"].endswith(said))
    s.shot("6-undone")
    if str(s.dest) in state["folders"]:  # the move added it: its undo takes it out
        raise Failed(f"the emptied destination stays among the folders: {state['folders']}")
    if contents(s.photos) != before or contents(s.dest):
        raise Failed(f"undo left {sorted(contents(s.dest))} in {s.dest}")

    # 6. close the window: the app ends cleanly and quietly
    s.xdo("key", "ctrl+q")
    try:
        code = s.app.wait(30)
    except subprocess.TimeoutExpired:
        raise Failed("the app did not exit within 30 s of Ctrl+Q") from None
    err = s.stderr_path.read_text(encoding="utf-8", errors="replace")
    if code != 0 or err.strip():
        raise Failed(f"the app exited {code}; stderr:\n{err}")


def selected(state: dict) -> list[str]:
    return sorted(Path(t["path"]).name for t in state["tiles"] if t["selected"])


def shown_in(state: dict, names: list[str]) -> set[str]:
    """The categories the window shows for these photos."""
    return {shown(state).get(n) for n in names}


def check_moved(s: Session, before: dict[str, str], placed: dict[str, str]) -> None:
    """Every photo the window showed in a category is in that category's folder (the RAW
    with its JPEG), the uncategorized ones stay; nothing lost, nothing twice."""
    placed = {**placed, "IMG_1.CR2": placed["IMG_1.JPG"]} if "IMG_1.JPG" in placed else placed
    moved = {p: h for p, h in before.items() if Path(p).name in placed}
    expected = {f"{placed[Path(p).name]}/{Path(p).name}": h for p, h in moved.items()}
    stayed = {p: h for p, h in before.items() if p not in moved}
    after, left = contents(s.dest), contents(s.photos)
    if after != expected or left != stayed:
        raise Failed(
            f"after the move: {sorted(after)} and {sorted(left)} left; expected "
            f"{sorted(expected)} and {sorted(stayed)} left"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    parser.add_argument("--shots", type=Path, help="save screenshots here")
    args = parser.parse_args(argv)
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        print(f"missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="photosorter-realx-"))
    work.mkdir(parents=True, exist_ok=True)
    session = Session(work, args.shots)
    make_photos(session.photos)
    started = time.monotonic()
    try:
        scenario(session)
    except Failed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        session.stop()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
