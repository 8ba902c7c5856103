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


def identity_contrast(fake: torch.Tensor, real: torch.Tensor, person: torch.Tensor,
                      queue: DescriptorQueue, temperature: float) -> torch.Tensor:
    """Softmax cross-entropy of each generated face's descriptor over its own true photo
    and every other person's photo in the batch and the queue, on squared distances (the
    gallery ranks by distance; the query adapter is fitted the same way)."""
    q_desc, q_person = queue.contents()
    cand = torch.cat([real.detach().float(), q_desc])
    cand_person = torch.cat([person.to(q_person.device), q_person])
    f = fake.float()
    d2 = (f * f).sum(1, keepdim=True) - 2 * f @ cand.T + (cand * cand).sum(1)[None]
    b = len(f)
    same = cand_person[None] == person[:, None].to(cand_person.device)
    same[torch.arange(b), torch.arange(b)] = False  # the true photo is the positive
    logits = (-d2 / temperature).masked_fill(same, float("-inf"))
    return torch.nn.functional.cross_entropy(logits, torch.arange(b, device=f.device))
