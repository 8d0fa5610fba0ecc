"""Frames per second of the ``dino`` VO front-end's ``detect`` + ``match`` on this machine, with
a ViT of seeded random weights (torch's default initialisation: the speed does not depend on
the weights; nothing is loaded):

    python -m core.bench.dino_speed [--frames 10] [--size 480x640] [--backbone dinov2_vits14]
                                    [--max-size N]

Frames of the synthetic room (:mod:`core.vo.synthetic`); one frame is detected first to warm
up; then each frame is detected and matched to the previous one, for both modes (the gradient
selector with raw tokens, the learned selector with refined descriptors). Prints the seconds
per frame of each step, the frames per second and torch's thread count.
"""

from __future__ import annotations

import argparse
import time

import torch

from core.models.vit import build_backbone
from core.vo.dino import DinoFrontend
from core.vo.synthetic import SyntheticSequence

MODES = (("gradient", "raw"), ("learned", "refined"))


def measure(
    frames: int, size_hw: tuple[int, int], backbone: str, max_size: int = 0
) -> dict[str, dict[str, float]]:
    """``{"selector/descriptor": {"detect_s", "match_s", "fps", "keypoints"}}``, per frame;
    ``max_size``: the front-end's option of that name (0: the frame's size)."""
    sequence = SyntheticSequence(frames + 1, size_hw)
    images = [sequence.read(i) for i in range(frames + 1)]
    torch.manual_seed(0)
    vit = build_backbone(backbone)  # torch's default initialisation
    results = {}
    for selector, descriptor in MODES:
        frontend = DinoFrontend(
            sequence.intrinsics,
            backbone_model=vit,
            selector=selector,
            descriptor=descriptor,
            max_size=max_size,
        )
        previous = frontend.detect(images[0])  # warm-up
        detect = match = 0.0
        count = 0
        for image in images[1:]:
            start = time.perf_counter()
            current = frontend.detect(image)
            middle = time.perf_counter()
            frontend.match(previous, current)
            detect, match = detect + middle - start, match + time.perf_counter() - middle
            previous, count = current, count + len(current)
        results[f"{selector}/{descriptor}"] = {
            "detect_s": detect / frames,
            "match_s": match / frames,
            "fps": frames / (detect + match),
            "keypoints": count / frames,
        }
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.bench.dino_speed")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--size", default="480x640", help="H x W of the frames")
    parser.add_argument("--backbone", default="dinov2_vits14")
    parser.add_argument("--max-size", type=int, default=0, help="the network input's longer side")
    args = parser.parse_args(argv)
    height, width = (int(side) for side in args.size.split("x"))
    results = measure(args.frames, (height, width), args.backbone, args.max_size)
    print(
        f"dino front-end, {args.backbone} (random weights), {width} x {height} "
        f"(max_size {args.max_size}), {args.frames} frames, {torch.get_num_threads()} torch threads"
    )
    for mode, row in results.items():
        print(
            f"{mode:18} detect {row['detect_s']:.3f} s  match {row['match_s'] * 1e3:.1f} ms  "
            f"{row['fps']:.2f} frames/s  {row['keypoints']:.0f} keypoints"
        )


if __name__ == "__main__":
    main()
