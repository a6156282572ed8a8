"""One proxy's toxics and its open links: the collection owns the chain and pushes every change into the links.

After Toxiproxy's `ToxicCollection`: the API adds, updates and removes toxics here; a link, once connected
to the upstream, is handed one stage per toxic of each direction (in the order the toxics were added), and
every later change is pushed into the live links. Links never look anything up; stages never see a link.
Each stage draws from its own generator, derived from the server seed, the proxy, the toxic and the link's
index (docs/proxy.md, "Reproducible randomness").
"""

from __future__ import annotations

from typing import Any

from harness.proxy.apierror import ApiError, require_object
from harness.proxy.frametoxic import FRAME_TOXIC, OfferStripStage
from harness.proxy.link import Link
from harness.proxy.seeding import derive_rng
from harness.proxy.toxics import STANDARD_TOXICS, STREAMS, TOXICITY_MODES, Stage, Toxic, ToxicType

TOXIC_TYPES: dict[str, ToxicType] = {**STANDARD_TOXICS, "frame": FRAME_TOXIC}


def _toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ApiError(400, f"toxicity must be a number between 0 and 1, got {value!r}")
    return float(value)


def _toxicity_mode(value: Any) -> str:
    if value not in TOXICITY_MODES:
        raise ApiError(400, "toxicity_mode must be connection or chunk")
    return str(value)


def _attributes(body: dict[str, Any]) -> dict[str, Any]:
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise ApiError(400, "attributes must be a JSON object")
    return attributes


class ToxicCollection:
    """The toxics of the proxy `proxy` (by name, in the order added) and the links it accepted."""

    def __init__(self, seed: int, proxy: str) -> None:
        self.seed = seed
        self.proxy = proxy
        self.toxics: dict[str, Toxic] = {}
        self.links: set[Link] = set()
        self.accepted = 0

    def to_json(self) -> list[dict[str, Any]]:
        return [t.to_json() for t in self.toxics.values()]

    # -- links ----------------------------------------------------------------------------------
    def new_link(self, upstream: tuple[str, int]) -> Link:
        """A link for a connection just accepted; it gets its stages once the upstream answers."""
        link = Link(self.accepted, upstream, connected=self._start, finished=self.links.discard)
        self.accepted += 1
        self.links.add(link)
        return link

    def _start(self, link: Link) -> None:
        frame = next((t for t in self.toxics.values() if t.type == "frame"), None)
        for stream in STREAMS:
            stages = [self._stage(t, link) for t in self.toxics.values() if t.stream == stream]
            if stream == "upstream" and frame is not None:
                # Compressed WebSocket messages cannot be matched: keep the connection uncompressed.
                stages.insert(0, OfferStripStage(frame, derive_rng(self.seed, self.proxy, "", link.index)))
            link.install(stream, stages)

    def _stage(self, toxic: Toxic, link: Link) -> Stage:
        rng = derive_rng(self.seed, self.proxy, toxic.name, link.index)
        return TOXIC_TYPES[toxic.type].stage(toxic, rng)

    def drop_links(self) -> None:
        """Close every open connection now; data held by toxics is dropped."""
        for link in list(self.links):
            link.abort()
        self.links.clear()

    # -- toxics ---------------------------------------------------------------------------------
    def get(self, name: str) -> Toxic:
        try:
            return self.toxics[name]
        except KeyError:
            raise ApiError(404, "toxic not found") from None

    def add(self, body: Any) -> Toxic:
        """A toxic from the API's JSON, joined to every open link of its direction."""
        body = require_object(body)
        kind = TOXIC_TYPES.get(body.get("type"))
        if kind is None:
            raise ApiError(400, "invalid toxic type")
        stream = body.get("stream") or "downstream"
        if stream not in STREAMS:
            raise ApiError(400, "stream was invalid, can be either upstream or downstream")
        name = body.get("name") or f"{body['type']}_{stream}"
        if not isinstance(name, str):
            raise ApiError(400, "name must be a string")
        if name in self.toxics:
            raise ApiError(409, "toxic already exists")
        attributes = _attributes(body)
        mode = _toxicity_mode(body.get("toxicity_mode", "connection"))
        toxic = Toxic(name=name, type=body["type"], stream=stream, toxicity=_toxicity(body.get("toxicity", 1.0)),
                      attributes=kind.normalise(attributes), toxicity_mode=mode)
        self.toxics[name] = toxic
        for link in list(self.links):
            link.add_stage(stream, self._stage(toxic, link))
        return toxic

    def update(self, name: str, body: Any) -> Toxic:
        """Attributes merged, toxicity kept unless given; every live stage of the toxic redraws."""
        toxic = self.get(name)
        body = require_object(body)
        attributes = TOXIC_TYPES[toxic.type].normalise({**toxic.attributes, **_attributes(body)})
        toxicity = _toxicity(body["toxicity"]) if "toxicity" in body else toxic.toxicity
        mode = _toxicity_mode(body.get("toxicity_mode", toxic.toxicity_mode))
        toxic.attributes, toxic.toxicity, toxic.toxicity_mode = attributes, toxicity, mode
        for link in list(self.links):
            link.retune(toxic)
        return toxic

    def remove(self, name: str) -> None:
        toxic = self.get(name)
        del self.toxics[name]
        for link in list(self.links):
            link.remove_toxic(toxic)

    def remove_all(self) -> None:
        for name in list(self.toxics):
            self.remove(name)
