"""Which registry versions this server serves, and hot reload when the registry changes.

Readers never lock: ``get`` reads ``self._loaded``, a mapping that is replaced whole (never
mutated) under ``_lock``. A background thread polls ``registry.fingerprint()``; on a change it
reads the new versions/aliases, loads the versions that the aliases in use now point at *before*
swapping them in, then retires the versions nothing points at any more. A retired version's
batcher drains what is queued; a request that reaches it after the swap gets ``Retired`` and the
servicer resolves again, so a promotion drops nothing.

Resolution: an empty name is ``InferenceConfig.default_model``; an empty version is the
``default`` alias, or the newest version when a model has no such alias; ``latest`` is the newest
version unless the registry defines an alias of that name.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from services.inference.batcher import BatchStats
from services.inference.config import InferenceConfig
from services.inference.loaded_model import LoadedModel, load_version
from shared.errors import ConfigMismatch, NotFound
from shared.registry import DEFAULT_ALIAS, ModelRegistry

log = logging.getLogger("ser.inference.models")
LATEST = "latest"
Key = tuple[str, str]


class ModelLoadFailed(ConfigMismatch):
    """A registered version could not be loaded (bad card, weights or artifacts): FAILED_PRECONDITION,
    because the request is fine and the model is what cannot be served."""

    code = "model_load_failed"


@dataclass(frozen=True)
class RegistryView:
    fingerprint: str
    versions: Mapping[str, tuple[str, ...]]
    aliases: Mapping[str, Mapping[str, str]]

    @classmethod
    def read(cls, registry: ModelRegistry) -> RegistryView:
        fingerprint = registry.fingerprint()
        versions, aliases = {}, {}
        for name in registry.names():
            try:
                found = tuple(registry.versions(name))
                named = dict(registry.aliases(name))
            except NotFound:  # removed, or a publish still in progress
                continue
            if found:
                versions[name], aliases[name] = found, MappingProxyType(named)
        return cls(fingerprint, MappingProxyType(versions), MappingProxyType(aliases))

    def resolve(self, name: str, version: str) -> str:
        if name not in self.versions:
            raise NotFound(f"no model named {name!r}; models: {sorted(self.versions)}")
        versions, aliases = self.versions[name], self.aliases[name]
        wanted = version or DEFAULT_ALIAS
        if wanted in versions:
            return wanted
        if wanted in aliases and aliases[wanted] in versions:
            return aliases[wanted]
        if wanted == LATEST or (not version and DEFAULT_ALIAS not in aliases):
            return versions[-1]
        raise NotFound(f"model {name!r} has no version or alias {wanted!r}; versions: {list(versions)}; "
                       f"aliases: {sorted(aliases)}")

    def aliases_of(self, name: str, version: str) -> list[str]:
        named = sorted(a for a, v in self.aliases.get(name, {}).items() if v == version)
        if name in self.versions and self.versions[name][-1] == version and LATEST not in self.aliases[name]:
            named.append(LATEST)
        return named


class ModelManager:
    def __init__(self, registry: ModelRegistry, config: InferenceConfig, device: str,
                 observe: Callable[[tuple[str, str, str], BatchStats], None],
                 on_change: Callable[[LoadedModel, bool], None] | None = None) -> None:
        self.registry = registry
        self.config = config
        self.device = device
        self._observe = observe
        self._on_change = on_change or (lambda model, ready: None)
        self._lock = threading.Lock()
        self._view = RegistryView.read(registry)
        self._loaded: Mapping[Key, LoadedModel] = MappingProxyType({})
        self._failed: dict[Key, str] = {}
        self._loading: set[Key] = set()
        self._key_locks: dict[Key, threading.Lock] = {}
        # (name, alias-or-"") pairs requested so far; their targets are reloaded on a registry change
        self._bindings: set[tuple[str, str]] = set()
        self._explicit: set[Key] = set()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # ------------------------------------------------------------------ reading
    @property
    def view(self) -> RegistryView:
        return self._view

    def loaded(self) -> Mapping[Key, LoadedModel]:
        return self._loaded

    def resolve(self, name: str, version: str) -> Key:
        name = name or self.config.default_model
        return name, self._view.resolve(name, version)

    def get(self, name: str, version: str = "") -> LoadedModel:
        """The loaded model for a reference, loading it on first use."""
        key = self.resolve(name, version)
        model = self._loaded.get(key)
        if model is not None:
            return model
        with self._lock:
            if version in self._view.versions.get(key[0], ()):
                self._explicit.add(key)
            else:
                self._bindings.add((key[0], version))
        return self._load(key)

    def state(self, key: Key) -> tuple[str, str]:
        """("ready" | "loading" | "failed" | "registered", error message)."""
        if key in self._loaded:
            return "ready", ""
        with self._lock:
            if key in self._loading:
                return "loading", ""
            if key in self._failed:
                return "failed", self._failed[key]
        return "registered", ""

    # ------------------------------------------------------------------ loading
    def _load(self, key: Key) -> LoadedModel:
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            model = self._loaded.get(key)
            if model is not None:
                return model
            with self._lock:
                self._loading.add(key)
            try:
                model = load_version(self.registry, *key, device=self.device, config=self.config,
                                     observe=self._observe)
            except Exception as exc:  # noqa: BLE001 - any load problem is this version's state
                with self._lock:
                    self._failed[key] = f"{type(exc).__name__}: {exc}"
                log.exception("loading %s:%s failed", *key)
                raise ModelLoadFailed(f"model {key[0]}:{key[1]} failed to load: {exc}") from exc
            finally:
                with self._lock:
                    self._loading.discard(key)
            with self._lock:
                self._failed.pop(key, None)
                self._loaded = MappingProxyType({**self._loaded, key: model})
        self._on_change(model, True)
        return model

    def preload(self) -> None:
        """Load the default version of every model (failures are recorded as that version's state)."""
        for name in list(self._view.versions):
            with self._lock:
                self._bindings.add((name, ""))
            try:
                self.get(name, "")
            except (ModelLoadFailed, NotFound):
                pass

    # ------------------------------------------------------------------ hot reload
    def refresh(self) -> bool:
        """Pick up registry changes; True when the fingerprint moved."""
        if self.registry.fingerprint() == self._view.fingerprint:
            return False
        view = RegistryView.read(self.registry)
        with self._lock:
            if self.config.preload:
                self._bindings |= {(name, "") for name in view.versions}
            bindings = set(self._bindings)
            explicit = {k for k in self._explicit if k[1] in view.versions.get(k[0], ())}
        wanted: set[Key] = set(explicit)
        for name, alias in bindings:
            try:
                wanted.add((name, view.resolve(name, alias)))
            except NotFound:
                continue
        for key in sorted(wanted - set(self._loaded)):
            try:
                self._load(key)
            except ModelLoadFailed:
                pass  # the old version keeps serving until the new one loads
        with self._lock:
            self._view = view
            self._failed = {k: v for k, v in self._failed.items() if k[1] in view.versions.get(k[0], ())}
            # a binding whose new target failed to load keeps its old version loaded
            keep = {k for k in self._loaded if k[1] in view.versions.get(k[0], ())
                    and (k in wanted or not self._served_elsewhere(k, wanted))}
            retired = [m for k, m in self._loaded.items() if k not in keep]
            self._loaded = MappingProxyType({k: m for k, m in self._loaded.items() if k in keep})
        for model in retired:
            model.retire()
            self._on_change(model, False)
        log.info("registry changed (%s); serving %s", view.fingerprint,
                 sorted(f"{n}:{v}" for n, v in self._loaded), extra={"fingerprint": view.fingerprint})
        return True

    def _served_elsewhere(self, key: Key, wanted: set[Key]) -> bool:
        """True when another loaded version of the same model is wanted, so ``key`` may go."""
        return any(k[0] == key[0] and k in self._loaded for k in wanted)

    def start(self) -> None:
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="registry-poll", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.config.poll_s):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a bad registry state must not kill the poller
                log.exception("registry refresh failed")

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        for model in self._loaded.values():
            model.retire()
