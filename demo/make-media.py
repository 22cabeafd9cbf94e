#!/usr/bin/env python3
"""Regenerates the gatecast demo media and content.toml (all self-made, CC0 1.0).

Run from anywhere:  python3 demo/make-media.py

Needs (only for generating, never at run time):
  pip install pillow            (tested with Pillow 13.0)
  apt-get install -y fonts-dejavu-core fonts-wqy-microhei espeak-ng ffmpeg
The fonts only render pixels; no font is embedded in any output file.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile

from PIL import Image, ImageDraw, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
MEDIA = os.path.join(HERE, "media")
W, H = 1280, 720
SLIDE_MS = 8000

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
DEJAVU_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
WQY = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"  # face 0: WenQuanYi Micro Hei

# Flat palette (RGB).
RED = (190, 30, 45)
YELLOW = (255, 205, 0)
NAVY = (16, 42, 84)
TEAL = (0, 109, 119)
GREEN = (36, 102, 62)
WHITE = (255, 255, 255)
CREAM = (250, 246, 236)
INK = (30, 30, 30)
AMBER = (230, 120, 0)
GREY = (110, 110, 110)


def font(path, size):
    return ImageFont.truetype(path, size, index=0)


def fonts_for(lang):
    """(regular, bold) font paths for a language."""
    if lang == "zh-Hans":
        return WQY, WQY
    return DEJAVU, DEJAVU_BOLD


def wrap(draw, text, fnt, max_w, cjk):
    """Greedy wrap by pixel width; words for Latin scripts, characters for CJK."""
    lines = []
    for para in text.split("\n"):
        units = list(para) if cjk else para.split(" ")
        sep = "" if cjk else " "
        line = ""
        for u in units:
            cand = u if not line else line + sep + u
            if draw.textlength(cand, font=fnt) <= max_w or not line:
                line = cand
            else:
                lines.append(line)
                line = u
        lines.append(line)
    return lines


def star(draw, cx, cy, r, fill):
    """A five-pointed star (points up)."""
    import math

    pts = []
    for i in range(10):
        rr = r if i % 2 == 0 else r * 0.382
        a = -math.pi / 2 + i * math.pi / 5
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    draw.polygon(pts, fill=fill)


def slide(name, lang, bg, fg, accent, kicker, title, body, footer, deco=None, kicker_fg=None):
    """Draws one 1280x720 slide: kicker line, big title, body lines, footer band."""
    reg, bold = fonts_for(lang)
    cjk = lang == "zh-Hans"
    img = Image.new("RGB", (W, H), bg)
    d = ImageDraw.Draw(img)
    x0 = 96
    maxw = W - 2 * x0
    # Accent bar on the left and the footer band.
    d.rectangle([0, 0, 24, H], fill=accent)
    d.rectangle([0, H - 84, W, H], fill=accent)
    if deco:
        deco(d)
        maxw -= 220
    y = 84
    if kicker:
        f = font(bold, 30)
        d.text((x0, y), kicker, font=f, fill=kicker_fg or accent)
        y += 62
    ft = font(bold, 66 if not cjk else 72)
    for line in wrap(d, title, ft, maxw, cjk):
        d.text((x0, y), line, font=ft, fill=fg)
        y += 88 if not cjk else 96
    y += 22
    fb = font(reg, 34 if not cjk else 38)
    for para in body:
        for line in wrap(d, para, fb, maxw, cjk):
            d.text((x0, y), line, font=fb, fill=fg)
            y += 50 if not cjk else 56
        y += 10
    if y > H - 100:
        sys.exit(f"{name}: text overflows the slide (y={y})")
    ff = font(reg, 26 if not cjk else 28)
    band_fg = WHITE if accent not in (YELLOW,) else INK
    d.text((x0, H - 42), footer, font=ff, fill=band_fg, anchor="lm")
    tag = font(DEJAVU, 18)
    d.text((W - 40, H - 42), f"gatecast demo · {lang}", font=tag, fill=band_fg, anchor="rm")
    out = os.path.join(MEDIA, f"{name}.png")
    # Flat colours: a 64-colour palette keeps the files small and text edges smooth.
    img.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, optimize=True
    )
    return out


def make_slides():
    """Returns [(file, lang, message, title, extra)] for the catalogue."""
    out = []
    gate_vi = "Cửa khẩu quốc tế Lào Cai – Hà Khẩu"

    def add(name, lang, message, title, extra=None, **kw):
        slide(name, lang, title=kw.pop("big", title), **kw)
        out.append((f"media/{name}.png", "slide", "image/png", lang, message, title, extra or {}))

    welcome_deco = lambda d: star(d, W - 200, 250, 110, YELLOW)
    add("welcome-vi", "vi", "welcome", "Chào mừng quý khách đến Lào Cai",
        bg=NAVY, fg=WHITE, accent=RED, deco=welcome_deco, kicker_fg=YELLOW,
        kicker="CỬA KHẨU QUỐC TẾ LÀO CAI",
        big="Chào mừng quý khách đến Lào Cai",
        body=["Lào Cai – Hà Khẩu", "Chúc quý khách một chuyến đi an toàn và thuận lợi."],
        footer=gate_vi)
    add("welcome-en", "en", "welcome", "Welcome to Lao Cai",
        bg=NAVY, fg=WHITE, accent=RED, deco=welcome_deco, kicker_fg=YELLOW,
        kicker="LAO CAI INTERNATIONAL BORDER GATE",
        big="Welcome to Lao Cai",
        body=["Lao Cai (Viet Nam) – Hekou (China)", "We wish you a safe and pleasant journey."],
        footer="Lao Cai – Hekou international border gate")
    add("welcome-zh-hans", "zh-Hans", "welcome", "欢迎来到老街",
        bg=NAVY, fg=WHITE, accent=RED, deco=welcome_deco, kicker_fg=YELLOW,
        kicker="老街国际口岸",
        big="欢迎来到老街",
        body=["老街（越南）— 河口（中国）", "祝您旅途平安、顺利！"],
        footer="老街—河口国际口岸")
    add("welcome-hmn", "hmn", "welcome", "Zoo siab txais tos nej tuaj txog Lào Cai",
        bg=NAVY, fg=WHITE, accent=RED, deco=welcome_deco, kicker_fg=YELLOW,
        kicker="LÀO CAI – HÀ KHẨU",
        big="Zoo siab txais tos nej tuaj txog Lào Cai",
        body=["Thov kom nej mus kev zoo thiab muaj kev nyab xeeb."],
        footer=gate_vi)
    add("procedures-vi", "vi", "procedures", "Lưu ý khi xuất nhập cảnh",
        bg=CREAM, fg=INK, accent=TEAL,
        kicker="THỦ TỤC XUẤT NHẬP CẢNH",
        big="Lưu ý khi xuất nhập cảnh",
        body=["• Chuẩn bị sẵn hộ chiếu hoặc giấy thông hành còn hạn.",
              "• Khai báo hải quan với hàng hoá, ngoại tệ vượt định mức.",
              "• Không mang hàng cấm, hàng giả qua biên giới.",
              "• Xếp hàng theo thứ tự, làm theo hướng dẫn của cán bộ cửa khẩu."],
        footer=gate_vi)
    add("national-day-vi", "vi", "national-day",
        "Kỷ niệm 81 năm Quốc khánh nước Cộng hoà xã hội chủ nghĩa Việt Nam",
        {"from": "2026-08-25", "until": "2026-09-05"},
        bg=RED, fg=WHITE, accent=YELLOW,
        deco=lambda d: star(d, W - 210, 280, 150, YELLOW),
        kicker="2/9/1945 – 2/9/2026",
        big="Kỷ niệm 81 năm Quốc khánh",
        body=["Nước Cộng hoà xã hội chủ nghĩa Việt Nam",
              "Nhiệt liệt chào mừng ngày Quốc khánh 2/9!"],
        footer="Lào Cai – năm 2026")
    add("resistance-day-vi", "vi", "resistance-day",
        "Kỷ niệm 80 năm Ngày Toàn quốc kháng chiến",
        {"from": "2026-12-12", "until": "2026-12-20"},
        bg=GREEN, fg=WHITE, accent=YELLOW,
        kicker="19/12/1946 – 19/12/2026",
        big="Kỷ niệm 80 năm Ngày Toàn quốc kháng chiến",
        body=["Phát huy tinh thần “Quyết tử để Tổ quốc quyết sinh”."],
        footer="Lào Cai – năm 2026")
    add("tourism-en", "en", "tourism", "Discover Lao Cai: Sa Pa and Fansipan",
        bg=TEAL, fg=WHITE, accent=AMBER, kicker_fg=YELLOW,
        kicker="VISIT LAO CAI",
        big="Discover Sa Pa and Fansipan",
        body=["Terraced rice fields, mountain markets and the Roof of Indochina.",
              "Lao Cai – Hekou – Kunming: your trade gateway to Yunnan."],
        footer="Lao Cai Department of Culture, Sports and Tourism")
    add("friendship-zh-hans", "zh-Hans", "friendship", "越中建交76周年",
        bg=CREAM, fg=INK, accent=RED,
        kicker="1950 — 2026",
        big="越中建交76周年",
        body=["老街 — 云南：睦邻友好，全面合作。", "共同建设和平、友好、合作、发展的边境。"],
        footer="老街省 · 越南")
    add("emergency-vi", "vi", "emergency", "Thông báo khẩn: tạm dừng thông quan do mưa lũ",
        {"alert": True},
        bg=(120, 0, 0), fg=WHITE, accent=YELLOW,
        kicker="⚠ THÔNG BÁO KHẨN",
        big="Tạm dừng thông quan do mưa lũ",
        body=["Mưa lớn, nguy cơ sạt lở trên đường vào cửa khẩu.",
              "Quý khách vui lòng ở lại nhà chờ, làm theo hướng dẫn của Bộ đội Biên phòng.",
              "Cứu nạn, cứu hộ: 112"],
        footer="Nội dung mẫu cho bản demo – không phải thông báo thật")
    return out


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def duration_ms(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", path],
        check=True, capture_output=True, text=True).stdout
    return round(float(json.loads(out)["format"]["duration"]) * 1000)


def ff_escape(text):
    """Escapes text for a drawtext option inside a filtergraph."""
    return text.replace("\\", "\\\\\\\\").replace(":", "\\\\:").replace("'", "\\\\\\'")


def make_video():
    """6 s 640x360 H.264 title card: the title fades in, a red bar sweeps, the subtitle rises."""
    out = os.path.join(MEDIA, "laocai-title.mp4")
    title = ff_escape("Lào Cai — Cửa khẩu quốc tế")
    sub = ff_escape("Lào Cai – Hà Khẩu · 2026")
    graph = ";".join([
        # the red bar slides in from the left during the first 1.5 s
        "[0:v][1:v]overlay=x='-w+w*min(1\\,t/1.5)':y=222:eval=frame[bg]",
        f"[bg]drawtext=fontfile={DEJAVU_BOLD}:text='{title}':fontsize=36:fontcolor=white"
        ":x=(w-text_w)/2:y=150:alpha='min(1\\,t/1.2)'"
        f",drawtext=fontfile={DEJAVU}:text='{sub}':fontsize=24:fontcolor=0xFFCD00"
        ":x=(w-text_w)/2:y='250+max(0\\,40*(1.5-t)/1.5)':alpha='min(1\\,max(0\\,(t-0.8)/1.0))'"
        ",fade=t=out:st=5.4:d=0.6,format=yuv420p[v]",
    ])
    run("ffmpeg", "-y", "-loglevel", "error",
        "-f", "lavfi", "-i", "color=c=0x102A54:s=640x360:r=25:d=6",
        "-f", "lavfi", "-i", "color=c=0xBE1E2D:s=640x6:r=25:d=6",
        "-filter_complex", graph, "-map", "[v]",
        "-c:v", "libx264", "-preset", "slow", "-crf", "26", "-threads", "1",
        "-profile:v", "main", "-movflags", "+faststart", "-an",
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact", out)
    return [("media/laocai-title.mp4", "video", "video/mp4", "vi", "laocai-title",
             "Lào Cai — Cửa khẩu quốc tế", {})]


def make_clip():
    """Vietnamese then English greeting, espeak-ng, 0.3 s pause, Ogg Opus 24 kbit/s mono."""
    out = os.path.join(MEDIA, "greeting-vi.ogg")
    with tempfile.TemporaryDirectory() as tmp:
        vi = os.path.join(tmp, "vi.wav")
        en = os.path.join(tmp, "en.wav")
        run("espeak-ng", "-v", "vi", "-s", "150", "-w", vi,
            "Chào mừng quý khách đến Cửa khẩu quốc tế Lào Cai.")
        run("espeak-ng", "-v", "en", "-s", "150", "-w", en, "Welcome to Lao Cai.")
        run("ffmpeg", "-y", "-loglevel", "error", "-i", vi, "-i", en, "-filter_complex",
            "[0:a]apad=pad_dur=0.3[a0];[a0][1:a]concat=n=2:v=0:a=1,aresample=48000[a]",
            "-map", "[a]", "-ac", "1", "-c:a", "libopus", "-b:a", "24k",
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", out)
    return [("media/greeting-vi.ogg", "clip", "audio/ogg", "vi", "greeting",
             "Chào mừng quý khách đến Lào Cai (tiếng Việt, English)", {})]


def toml_str(s):
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def write_catalogue(entries):
    lines = [
        "# gatecast demo content catalogue — generated by make-media.py, do not edit by hand.",
        "# Paths are relative to this file. All media: CC0 1.0 (see README.md).",
        "# Per [[media]]: file, kind (video|slide|clip), mime, lang (BCP 47), title (in its",
        "# language), duration_ms, message (groups language variants of one message),",
        "# bytes, sha256 (of the file), and optionally from/until (campaign dates \"YYYY-MM-DD\",",
        "# inclusive, civil dates in the screen's timezone) and alert = true (an emergency notice).",
        "",
        "version = 1",
        "",
    ]
    for file, kind, mime, lang, message, title, extra in entries:
        path = os.path.join(HERE, file)
        data = open(path, "rb").read()
        ms = SLIDE_MS if kind == "slide" else duration_ms(path)
        lines += [
            "[[media]]",
            f"file = {toml_str(file)}",
            f"kind = {toml_str(kind)}",
            f"mime = {toml_str(mime)}",
            f"lang = {toml_str(lang)}",
            f"title = {toml_str(title)}",
            f"duration_ms = {ms}",
            f"message = {toml_str(message)}",
            f"bytes = {len(data)}",
            f"sha256 = {toml_str(hashlib.sha256(data).hexdigest())}",
        ]
        for k in ("from", "until"):
            if k in extra:
                lines.append(f"{k} = {toml_str(extra[k])}")  # "YYYY-MM-DD" string
        if extra.get("alert"):
            lines.append("alert = true")
        lines.append("")
    with open(os.path.join(HERE, "content.toml"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main():
    os.makedirs(MEDIA, exist_ok=True)
    entries = make_slides() + make_video() + make_clip()
    write_catalogue(entries)
    total = sum(os.path.getsize(os.path.join(HERE, e[0])) for e in entries)
    for e in entries:
        print(f"{os.path.getsize(os.path.join(HERE, e[0])):>8}  {e[0]}")
    print(f"{total:>8}  total")
    if total >= 3 * 1024 * 1024:
        sys.exit("media exceed 3 MB")


if __name__ == "__main__":
    main()
