"""One training run per work_dir: a lock that a killed run does not leave behind."""

import fcntl
import os
import os.path as osp
import socket
import time
from typing import IO, Optional

LOCK_NAME = '.train.lock'


class WorkDirBusyError(RuntimeError):
    """Another live run holds the work_dir."""


class WorkDirLock:
    """An exclusive ``flock`` on ``work_dir/.train.lock``, held while the process lives.

    The kernel drops the lock when the process ends in any way (including ``kill -9``), so a
    crashed run never leaves the work_dir locked; the file's text (PID, host, start time) only
    serves the error message. ``flock`` is reliable on local file systems; on NFS it depends on
    the mount (``local_lock``), so two hosts sharing a work_dir may not see each other's lock.

    Args:
        work_dir (str): The directory to lock (made if missing).
    """

    def __init__(self, work_dir: str) -> None:
        self.path = osp.join(work_dir, LOCK_NAME)
        self._file: Optional[IO] = None

    def acquire(self) -> 'WorkDirLock':
        """Take the lock or raise :class:`WorkDirBusyError` naming the process holding it."""
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        f = open(self.path, 'a+')
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or 'an unknown process'
            f.close()
            raise WorkDirBusyError(
                f'work_dir {osp.dirname(self.path)} is in use by another training run '
                f'({holder}). Wait for it to finish, stop it, or pass another --work-dir.'
            ) from None
        f.seek(0)
        f.truncate()
        f.write(
            f'PID {os.getpid()} on {socket.gethostname()}, started '
            f'{time.strftime("%Y-%m-%d %H:%M:%S")}'
        )
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        """Drop the lock (the process ending does the same)."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
