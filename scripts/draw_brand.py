"""Draw linkname's brand images (icon.png, icon@2x.png, logo.png, logo@2x.png).

Two hosts joined by a link, each sending out its name (arcs), and the name tag
they announce above the link. Transparent background; holes are cut out, so it
reads on light and dark themes alike.
Usage: .venv/bin/python scripts/draw_brand.py [OUTPUT_DIRECTORY]
(default custom_components/linkname/brand; Pillow comes with Home Assistant)
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

BLUE = (3, 155, 229, 255)
AMBER = (255, 167, 38, 255)
CLEAR = (0, 0, 0, 0)


def drawing(size: int) -> Image.Image:
    """The mark on a 256-unit grid, drawn at SIZE pixels."""
    img = Image.new("RGBA", (size, size), CLEAR)
    d = ImageDraw.Draw(img)
    u = size / 256

    def px(*values: float) -> list[float]:
        return [v * u for v in values]

    def circle(cx: float, cy: float, r: float) -> list[float]:
        return px(cx - r, cy - r, cx + r, cy + r)

    # the link and its two hosts
    y = 188
    d.rounded_rectangle(px(52, y - 8, 204, y + 8), radius=8 * u, fill=BLUE)
    for cx in (52, 204):
        d.ellipse(circle(cx, y, 30), fill=BLUE)
        d.ellipse(circle(cx, y, 12), fill=CLEAR)
    # each host sends its name out: arcs on the outer side, facing up
    for cx, start, end in ((52, 200, 260), (204, 280, 340)):
        for r in (50, 74):
            d.arc(
                circle(cx, y, r), start=start, end=end, fill=BLUE, width=round(12 * u)
            )
    # the name tag, pointed at the left like a luggage label, with its hole
    left, right, top, bottom = 70, 190, 36, 118
    mid = (top + bottom) / 2
    d.rounded_rectangle(px(left + 26, top, right, bottom), radius=14 * u, fill=AMBER)
    d.polygon(px(left, mid, left + 40, top, left + 40, bottom), fill=AMBER)
    d.ellipse(circle(left + 26, mid, 9), fill=CLEAR)
    # the name written on it
    d.rounded_rectangle(px(112, 58, 172, 70), radius=6 * u, fill=CLEAR)
    d.rounded_rectangle(px(112, 84, 154, 96), radius=6 * u, fill=CLEAR)
    # the tag hangs on the link
    d.rounded_rectangle(px(123, bottom - 2, 133, y), radius=5 * u, fill=BLUE)
    return img


def fit(img: Image.Image, width: int, height: int) -> Image.Image:
    """Trim to the drawing and centre it on a transparent WIDTH x HEIGHT."""
    cropped = img.crop(img.getbbox())
    cropped.thumbnail((width, height), Image.Resampling.LANCZOS)
    out = Image.new("RGBA", (width, height), CLEAR)
    out.paste(cropped, ((width - cropped.width) // 2, (height - cropped.height) // 2))
    return out


def main() -> None:
    default = (
        Path(__file__).resolve().parent.parent / "custom_components/linkname/brand"
    )
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    big = drawing(2048)
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        fit(big, size, size).save(out / name, optimize=True)
    # the logo is the trimmed mark (brands: shortest side 128..256 px)
    trimmed = big.crop(big.getbbox())
    for name, short in (("logo.png", 256), ("logo@2x.png", 512)):
        ratio = short / min(trimmed.size)
        w, h = round(trimmed.width * ratio), round(trimmed.height * ratio)
        trimmed.resize((w, h), Image.Resampling.LANCZOS).save(out / name, optimize=True)


if __name__ == "__main__":
    main()
