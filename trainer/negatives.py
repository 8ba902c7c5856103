"""Other people's photos for the contrastive identity term: the dlib descriptors of the
last few thousand training photos, with who each is of.

The identity term pulls a generated face toward its true photo, but a gallery search
asks more: that it land nearer that photo than every other person's. The photos of
recent batches (already described for the identity term, so free) serve as those other
people, as in MoCo's queue (He et al., 2020); photos of the same person are never
counted as negatives.
"""

from __future__ import annotations

import hashlib

import torch

DIM = 128


def person_code(source: str, identity: str) -> int:
    """A stable 63-bit number for one person of one source, the same in every worker."""
    digest = hashlib.blake2b(f"{source}/{identity}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


class DescriptorQueue:
    """A ring of the newest `size` photo descriptors and their person codes."""

    def __init__(self, size: int, device: torch.device | str = "cpu") -> None:
        if size < 1:
            raise ValueError("a negative queue holds at least one photo")
        self.desc = torch.zeros(size, DIM, device=device)
        self.person = torch.full((size,), -1, dtype=torch.int64, device=device)
        self.filled = 0
        self.head = 0

    def __len__(self) -> int:
        return self.filled

    def push(self, desc: torch.Tensor, person: torch.Tensor) -> None:
        desc, person = desc.detach().float(), person.to(self.person.device)
        size = len(self.desc)
        desc, person = desc[-size:], person[-size:]
        slots = (self.head + torch.arange(len(desc), device=self.desc.device)) % size
        self.desc[slots] = desc.to(self.desc.device)
        self.person[slots] = person
        self.head = (self.head + len(desc)) % size
        self.filled = min(self.filled + len(desc), size)

    def contents(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.desc[:self.filled], self.person[:self.filled]

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        return {"desc": self.desc.cpu(), "person": self.person.cpu(), "filled": self.filled,
                "head": self.head}

    def load_state_dict(self, state: dict) -> None:
        if state["desc"].shape != self.desc.shape:
            raise ValueError("the checkpoint's negative queue has another size")
        self.desc.copy_(state["desc"])
        self.person.copy_(state["person"])
        self.filled, self.head = int(state["filled"]), int(state["head"])


def nearer_than_others(query: torch.Tensor, photos: torch.Tensor, photo_person: torch.Tensor,
                       person: torch.Tensor, positive: torch.Tensor, temperature: float,
                       photos_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax cross-entropy of each query descriptor over `photos` on squared distances
    (the gallery ranks by distance): row i's true photo is `positive[i]`, and the other
    photos of its `person` are left out, neither positive nor negative. The query adapter
    is fitted with it and the contrastive term trains the generator with it.
    `photos_sq`: the photos' squared norms, when the caller keeps them."""
    sq = (photos * photos).sum(1) if photos_sq is None else photos_sq
    d2 = (query * query).sum(1, keepdim=True) - 2 * query @ photos.T + sq[None]
    same = photo_person[None] == person[:, None]
    same[torch.arange(len(query)), positive] = False
    logits = (-d2 / temperature).masked_fill(same, float("-inf"))
    return torch.nn.functional.cross_entropy(logits, positive)


def identity_contrast(fake: torch.Tensor, real: torch.Tensor, person: torch.Tensor,
                      queue: DescriptorQueue, temperature: float) -> torch.Tensor:
    """Each generated face's descriptor against its own true photo and every other
    person's photo in the batch and the queue."""
    q_desc, q_person = queue.contents()
    cand = torch.cat([real.detach().float(), q_desc])
    person = person.to(q_person.device)
    return nearer_than_others(fake.float(), cand, torch.cat([person, q_person]), person,
                              torch.arange(len(fake), device=fake.device), temperature)
