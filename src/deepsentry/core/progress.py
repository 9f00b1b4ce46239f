"""Progress reporting for long work (training epochs), drawn with rich on a terminal.

A reporter has three methods: ``start(description, total)``, ``advance(**info)`` and ``finish()``.
:class:`NullProgress` draws nothing (library default); :class:`RichProgress` draws a bar with
elapsed and remaining time.
"""

from __future__ import annotations

from typing import Any


class NullProgress:
    def start(self, description: str, total: int) -> None:  # noqa: D102
        pass

    def advance(self, **info: Any) -> None:  # noqa: D102
        pass

    def finish(self) -> None:  # noqa: D102
        pass


class RichProgress:
    """Progress bars on stderr; silent when stderr is not a terminal unless ``force``."""

    def __init__(self, *, force: bool = False) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        console = Console(stderr=True)
        self._enabled = force or console.is_terminal
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                  TimeRemainingColumn(), console=console, transient=False)
        self._task = None

    def start(self, description: str, total: int | None) -> None:
        """Start a bar; ``total=None`` when the amount of work is not known in advance."""
        if not self._enabled:
            return
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, info="")

    def advance(self, **info: Any) -> None:
        if self._task is None:
            return
        text = " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in info.items() if v is not None)
        self._progress.update(self._task, advance=1, info=text)

    def finish(self) -> None:
        if self._task is not None:
            self._progress.stop()
            self._task = None


def epoch_callback(progress: Any, description: str, epochs: int) -> Any:
    """A Keras callback that reports each training epoch (and its loss) to a reporter."""
    from .backend import import_keras

    keras = import_keras()

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            progress.start(description, epochs)

        def on_epoch_end(self, epoch, logs=None):
            progress.advance(loss=(logs or {}).get("loss"))

        def on_train_end(self, logs=None):
            progress.finish()

    return EpochProgress()
