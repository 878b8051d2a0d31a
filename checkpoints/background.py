"""The process's one background checkpoint writer.

A background save takes host copies of everything it will write in the caller's thread (so
the caller may go on training and changing parameters at once), then a writer thread
writes them out. Three rules keep this safe and simple:

- at most one background write is in flight per process: the next save (background or
  not) first waits for it, before taking its own copies, so at most one set of copies
  exists and writes land in the order they were asked for;
- an error is never lost: the writer's exception is raised by the handle's ``wait()``;
  if nobody waited for it, by the next save of the process; failing that, it is printed
  on stderr when the process exits;
- the writer thread is not a daemon: a process that ends normally (or by an exception)
  finishes the write first. A kill leaves the previous file, since every write is atomic.

The writer does all its work on its one thread (checksums included), so a background
write occupies at most one core beside training. (A lower scheduling priority for it was
tried: on this shared machine it made writes take 4x longer, with no measurable gain for
the training steps that ran meanwhile.)
"""
import atexit
import sys
import threading

__all__ = ["SaveHandle", "run_in_background", "run_exclusive", "wait_for_background",
           "in_writer_thread"]

_lock = threading.RLock()     # held while a save waits, copies and starts its writer
_inflight = None              # the newest SaveHandle
_thread_role = threading.local()


def in_writer_thread():
    """Whether the calling thread is the background writer."""
    return getattr(_thread_role, "writer", False)


class SaveHandle:
    """A background write: ``wait()`` for it (re-raising its error), ``done()`` to poll."""

    def __init__(self, path):
        self.path = str(path)
        self._finished = threading.Event()
        self._error = None
        self._reported = False
        self._job = None

    def done(self):
        """Whether the write has finished (successfully or not)."""
        return self._finished.is_set()

    def wait(self, timeout=None):
        """Block until the write has finished and re-raise its error, if any.

        Returns True once finished, False if ``timeout`` seconds passed first.
        """
        if not self._finished.wait(timeout):
            return False
        if self._error is not None:
            self._reported = True
            raise self._error
        return True

    def exception(self):
        """The writer's exception (None while running or after a success); marks it seen."""
        if self._error is not None and self._finished.is_set():
            self._reported = True
        return self._error if self._finished.is_set() else None

    def _run(self):
        job, self._job = self._job, None
        _thread_role.writer = True
        try:
            job()
        except BaseException as e:      # kept for wait(); the thread itself ends quietly
            self._error = e
        finally:
            job = None                  # release the host copies before anyone is woken
            self._finished.set()

    def __repr__(self):
        state = "running" if not self.done() else ("failed" if self._error else "written")
        return f"<SaveHandle {self.path} {state}>"


def wait_for_background():
    """Wait for the background write in flight, if any; raise its error if nobody has seen
    it yet (a failed checkpoint must stop the program that relies on it)."""
    handle = _inflight
    if handle is None:
        return
    handle._finished.wait()
    if handle._error is not None and not handle._reported:
        handle._reported = True
        raise handle._error


def run_exclusive(write):
    """Run ``write()`` now, in this thread, after the write in flight (a synchronous save)."""
    with _lock:
        wait_for_background()
        return write()


def run_in_background(path, prepare):
    """Start a background write of ``path``; returns its :class:`SaveHandle`.

    ``prepare()`` runs in the caller's thread once the previous write has finished: it
    takes the host copies and returns the job (a callable without arguments) that the
    writer thread runs.
    """
    global _inflight
    with _lock:
        wait_for_background()
        job = prepare()
        handle = SaveHandle(path)
        handle._job, job = job, None
        thread = threading.Thread(target=handle._run, daemon=False, name=f"tiezoo-writer {path}")
        _inflight = handle
        thread.start()
        return handle


@atexit.register
def _report_unseen_error():
    # Runs after the interpreter has joined the (non-daemon) writer thread.
    handle = _inflight
    if handle is not None and handle._error is not None and not handle._reported:
        print(f"tiezoo: the background save of {handle.path} failed: {handle._error}",
              file=sys.stderr, flush=True)
