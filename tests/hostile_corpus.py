"""A corpus of hostile and broken inputs, generated on the fly (issue 6).

    from tests.hostile_corpus import build_corpus
    cases = build_corpus(tmp_path)          # list[HostileCase], files written under tmp_path

Every case names the outcomes that are acceptable for it (`expect`): typed error codes
(`extraction.errors`: "encrypted_input", "corrupt_input", "input_too_large", ...) and/or "ok" (a
result, every page read) or "partial" (a result with failed pages). Anything else (an uncaught
exception, a hang past `time_limit_s`, a worker killed for memory) is a defect.

The files are made here, deterministically (the same bytes on every build, so a service that
deduplicates uploads by sha256 sees the same documents), in about a second: nothing is downloaded
and nothing big is held in memory (the oversize files are sparse). The reports inside (digital PDF,
encrypted PDFs, text in several encodings, traditional characters) are seed 004 of
`datasets/seeds` (its truth: `datasets/seeds/truth/004_*.json`).

Used by tests/extraction/test_hostile_inputs.py (the extraction pipeline in a child process), and by the
service's worker tests and bench/reliability (the same files through the service).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = next((ROOT / "datasets" / "seeds").glob("004_*.txt"))
SEED_TRUTH = ROOT / "datasets" / "seeds" / "truth" / f"{SEED.stem}.json"
DATA = Path(__file__).resolve().parent / "data" / "hostile"

# The default IngestOptions.max_bytes (50 MiB): the oversize cases are one byte over it.
MAX_BYTES = 50 * 1024 * 1024

OK, PARTIAL = "ok", "partial"
EMPTY, UNSUPPORTED, UNDECODABLE = "empty_input", "unsupported_input", "undecodable_text"
TOO_LARGE, NOT_REPORT, TABLES_MISSING = "input_too_large", "not_a_report", "tables_missing"
CORRUPT, ENCRYPTED, TIME_LIMIT = "corrupt_input", "encrypted_input", "time_limit_exceeded"


@dataclass
class HostileCase:
    name: str  # unique, also the stem of the file
    path: Path
    expect: frozenset[str]  # acceptable outcomes: error codes, "ok", "partial"
    time_limit_s: float  # wall time for the whole job (ingest + the rest), on a 2-core machine
    note: str
    slow: bool = False  # OCR or big decoding: seconds, not milliseconds

    @property
    def upload_name(self) -> str:
        """The file name a client would send (the name on disk; it may be odd on purpose)."""
        return self.path.name


# ---------------------------------------------------------------------------------------------
# Reports (the valid content the hostile wrappers carry)


def report_text() -> str:
    return SEED.read_text(encoding="utf-8")


def report_truth() -> dict:
    return json.loads(SEED_TRUTH.read_text(encoding="utf-8"))


def _document():
    from gongkai_datasets.render import render
    from gongkai_datasets.values import ReportValues

    truth = report_truth()
    rep = truth["report"]
    rv = ReportValues(rep["format"], tuple(rep.get("variants", [])), dict(truth["cells"]))
    return render(rv, rep["agency"], rep["year"], random.Random(1), fancy_numbers=False)


def report_pdf(encrypt=None) -> bytes:
    """Seed 004 as a digital PDF (reportlab, built-in STSong-Light, ruled tables, 3 A4 pages);
    `encrypt`: a reportlab StandardEncryption (or one of the AES classes below) to encrypt it with."""
    from unittest import mock

    from reportlab.pdfgen import canvas

    from gongkai_datasets.render_pdf import PdfStyle, render_pdf

    if encrypt is None:
        return render_pdf(_document(), random.Random(1), PdfStyle()).pdf

    class EncryptedCanvas(canvas.Canvas):
        def __init__(self, *args, **kwargs):
            kwargs["encrypt"] = encrypt
            super().__init__(*args, **kwargs)

    with mock.patch.object(canvas, "Canvas", EncryptedCanvas):
        return render_pdf(_document(), random.Random(1), PdfStyle()).pdf


def report_html() -> str:
    """Seed 004 as a government-site HTML page (tables with rowspan/colspan); `{charset}` in the
    meta tag is left for the caller."""
    from gongkai_datasets.flatten import html

    raw = html(_document(), random.Random(2))
    text = raw.decode("utf-8") if b'charset="utf-8"' in raw else raw.decode("gb18030")
    return text.replace('charset="utf-8"', 'charset="{charset}"').replace('charset="gb2312"', 'charset="{charset}"')


# Simplified → traditional for every character of the seed report that has a distinct traditional
# form (written for this corpus, independently of the reader's map in extraction/ingest/hanzi.py;
# `to_traditional` checks the result with Big5, which has no simplified-only characters).
_S2T_PAIRS = (
    "万萬与與专專业業东東两兩个個丰豐为為举舉义義习習于於亲親们們价價众眾优優会會体體余餘偿償党黨"
    "关關兴興内內农農决決况況减減创創办辦务務动動区區医醫协協单單卫衛厅廳发發变變台臺号號后後听聽"
    "员員围圍国國图圖块塊坚堅处處复復够夠学學实實审審对對导導将將层層属屬并並广廣应應废廢开開强強"
    "归歸当當录錄彻徹征徵态態总總执執护護报報据據数數断斷无無时時机機权權条條来來构構标標栏欄样樣"
    "检檢汇匯没沒泄洩测測环環现現疗療监監盖蓋确確种種稳穩签簽类類纠糾级級纳納纾紓线線组組细細织織"
    "经經结結绕繞给給统統继繼续續维維缴繳网網罚罰联聯范範药藥获獲补補见見规規视視计計认認讨討训訓"
    "议議许許讼訟设設访訪评評诉訴询詢详詳请請读讀调調谈談负負财財责責质質购購贯貫费費转轉载載辖轄"
    "迁遷过過运運还還这這进進适適采採针針门門问問隐隱难難项項顺順领領频頻题題额額风風"
    "严嚴传傳储儲册冊华華备備户戶电電畅暢码碼职職节節识識话話资資输輸释釋长長队隊页頁"
)
S2T = {_S2T_PAIRS[i]: _S2T_PAIRS[i + 1] for i in range(0, len(_S2T_PAIRS), 2)}


def to_traditional(text: str) -> str:
    out = text.translate(str.maketrans(S2T))
    hanzi = "".join(ch for ch in out if "\u4e00" <= ch <= "\u9fff")
    hanzi.encode("cp950")  # every character is one Big5 has: no simplified-only form was left
    return out


# ---------------------------------------------------------------------------------------------
# PDF building blocks


def pdf_objects(objects: list[bytes], *, root: int = 1, trailer: bytes = b"", version: bytes = b"1.7") -> bytes:
    """A PDF of the given object bodies (numbered from 1) with a correct xref table."""
    out = bytearray(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, trailer, xref)
    return bytes(out)


def stream(data: bytes, entries: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), entries) + data + b"\nendstream"


def one_page_pdf(content: bytes = b"", media: bytes = b"[0 0 595 842]", resources: bytes = b"<< >>", extra=()) -> bytes:
    """Catalog, pages, one page with `content`, Helvetica as /F1; `extra` objects from number 6."""
    return pdf_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox %s /Contents 4 0 R /Resources %s >>" % (media, resources),
            stream(content),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            *extra,
        ]
    )


def deflate_repeat(block: bytes, times: int) -> tuple[bytes, int, int]:
    """Raw deflate data of `block` repeated `times` times, made without compressing them all: after a
    full flush a block compresses to the same bytes every time. → (data, size, crc32)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    assert first == again
    data = first * times + c.flush()
    crc = 0
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    return data, len(block) * times, crc


def deflate_run(byte: int, size_mb: int) -> tuple[bytes, int, int]:
    """Raw deflate data of `size_mb` MiB of one repeated byte. → (data, size, crc32)."""
    return deflate_repeat(bytes([byte]) * (1 << 20), size_mb)


def zlib_repeat(block: bytes, times: int) -> bytes:
    """The same as a zlib stream (FlateDecode in a PDF, a PNG's IDAT): header, raw deflate, Adler-32."""
    raw, _size, _crc = deflate_repeat(block, times)
    adler = 1
    for _ in range(times):
        adler = zlib.adler32(block, adler)
    return b"\x78\xda" + raw + struct.pack(">I", adler)


def zlib_run(byte: int, size_mb: int) -> bytes:
    return zlib_repeat(bytes([byte]) * (1 << 20), size_mb)


def raw_zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A ZIP of pre-built members: (name, data, method, uncompressed size, crc32). Sizes are written
    as given, so a member may lie about them."""
    out = bytearray()
    central = bytearray()
    for name, data, method, size, crc in members:
        fname = name.encode("utf-8")
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0x800, method, 0, 0x21, crc, len(data), size, len(fname), 0)
        out += fname + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0x800, method, 0, 0x21, crc, len(data), size, len(fname), 0, 0, 0, 0, 0, offset
        )
        central += fname
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), cd_offset, 0)
    return bytes(out)


def stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    return (name, data, 0, len(data), zlib.crc32(data))


def deflated(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (name, c.compress(data) + c.flush(), 8, len(data), zlib.crc32(data))


_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/word/document.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    b"</Types>"
)
_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    b'Target="word/document.xml"/></Relationships>'
)
_W_NS = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx_with(document_xml: bytes, extra=()) -> bytes:
    """A minimal DOCX package around `document_xml` (written by hand: no python-docx template)."""
    return raw_zip(
        [
            deflated("[Content_Types].xml", _CONTENT_TYPES),
            deflated("_rels/.rels", _RELS),
            deflated("word/document.xml", document_xml),
            *extra,
        ]
    )


def _paragraphs_xml(paragraphs: list[str], prolog: bytes = b"") -> bytes:
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs).encode("utf-8")
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + prolog + b"<w:document " + _W_NS + b"><w:body>"
        + body + b"</w:body></w:document>"
    )


# ---------------------------------------------------------------------------------------------
# Encryption (PDF standard security handler): RC4 from reportlab; AES-128 (V4/R4, AESV2) and
# AES-256 (V5/R6, AESV3, PDF 2.0) added here with `cryptography` (a dev dependency).


def _aes_cbc(key: bytes, iv: bytes, data: bytes, pad: bool = True) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if pad:
        n = 16 - len(data) % 16
        data += bytes([n]) * n
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def _aes_ecb(key: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def _hash_r6(password: bytes, salt: bytes, udata: bytes = b"") -> bytes:
    """ISO 32000-2 algorithm 2.B (the hash of revision 6)."""
    k = hashlib.sha256(password + salt + udata).digest()
    i = 0
    while True:
        k1 = (password + k + udata) * 64
        e = _aes_cbc(k[:16], k[16:32], k1, pad=False)
        k = (hashlib.sha256, hashlib.sha384, hashlib.sha512)[sum(e[:16]) % 3](e).digest()
        i += 1
        if i >= 64 and e[-1] <= i - 32:
            return k[:32]


def _encryption_classes():
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfbase.pdfdoc import DummyDoc, PDFDictionary, PDFName, PDFObject

    def hexs(b: bytes) -> str:
        return "<" + b.hex().upper() + ">"

    class EncryptDict(PDFObject):
        __RefOnly__ = 1

        def __init__(self, entries: dict) -> None:
            self.entries = entries

        def format(self, document):
            return PDFDictionary(self.entries).format(DummyDoc())

    def crypt_filter(cfm: str, length: int):
        std = PDFDictionary({"CFM": PDFName(cfm), "AuthEvent": PDFName("DocOpen"), "Length": length})
        return PDFDictionary({"StdCF": std})

    class Aes128(StandardEncryption):
        """V4 / R4 with the AESV2 crypt filter; O, U and the file key as in R3 (128-bit)."""

        def __init__(self, user: str, owner: str, rng: random.Random) -> None:
            super().__init__(user, owner, strength=128)
            self.rng = rng

        def encode(self, t):
            t = t.encode("latin-1") if isinstance(t, str) else bytes(t)
            salt = self.objnum.to_bytes(3, "little") + self.version.to_bytes(2, "little") + b"sAlT"
            key = hashlib.md5(self.key + salt).digest()
            iv = self.rng.randbytes(16)
            return iv + _aes_cbc(key, iv, t)

        def info(self):
            return EncryptDict(
                {
                    "Filter": PDFName("Standard"), "V": 4, "R": 4, "Length": 128, "P": self.P,
                    "O": hexs(self.O), "U": hexs(self.U), "CF": crypt_filter("AESV2", 16),
                    "StmF": PDFName("StdCF"), "StrF": PDFName("StdCF"),
                }
            )

    class Aes256(StandardEncryption):
        """V5 / R6 (PDF 2.0) with the AESV3 crypt filter."""

        def __init__(self, user: str, owner: str, rng: random.Random) -> None:
            super().__init__(user, owner, strength=128)
            self.rng = rng

        def prepare(self, document, overrideID=None):
            super().prepare(document, overrideID)  # sets P, objnum, prepared
            rng, user, owner = self.rng, self.userPassword.encode("utf-8"), self.ownerPassword.encode("utf-8")
            self.key = rng.randbytes(32)
            uvs, uks, ovs, oks = (rng.randbytes(8) for _ in range(4))
            self.U = _hash_r6(user, uvs) + uvs + uks
            self.UE = _aes_cbc(_hash_r6(user, uks), bytes(16), self.key, pad=False)
            self.O = _hash_r6(owner, ovs, self.U) + ovs + oks
            self.OE = _aes_cbc(_hash_r6(owner, oks, self.U), bytes(16), self.key, pad=False)
            perms = struct.pack("<i", self.P) + b"\xff\xff\xff\xffTadb" + rng.randbytes(4)
            self.Perms = _aes_ecb(self.key, perms)

        def encode(self, t):
            t = t.encode("latin-1") if isinstance(t, str) else bytes(t)
            iv = self.rng.randbytes(16)
            return iv + _aes_cbc(self.key, iv, t)

        def info(self):
            return EncryptDict(
                {
                    "Filter": PDFName("Standard"), "V": 5, "R": 6, "Length": 256, "P": self.P,
                    "O": hexs(self.O), "U": hexs(self.U), "OE": hexs(self.OE), "UE": hexs(self.UE),
                    "Perms": hexs(self.Perms), "CF": crypt_filter("AESV3", 32),
                    "StmF": PDFName("StdCF"), "StrF": PDFName("StdCF"),
                }
            )

    return StandardEncryption, Aes128, Aes256


def encrypted_pdf(method: str, user: str, owner: str = "owner") -> bytes:
    """Seed 004 as a PDF encrypted with `method` (rc4-40, rc4-128, aes-128, aes-256); an empty
    `user` password opens for anyone."""
    standard, aes128, aes256 = _encryption_classes()
    rng = random.Random(f"hostile:{method}:{user}")
    if method == "rc4-40":
        enc = standard(user, owner, strength=40)
    elif method == "rc4-128":
        enc = standard(user, owner, strength=128)
    elif method == "aes-128":
        enc = aes128(user, owner, rng)
    elif method == "aes-256":
        enc = aes256(user, owner, rng)
    else:
        raise ValueError(method)
    return report_pdf(encrypt=enc)


# ---------------------------------------------------------------------------------------------
# Images


def png(width: int, height: int, idat: bytes, *, bit_depth: int = 8, color: int = 0, chunks=()) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color, 0, 0, 0))
    for kind, body in chunks:
        out += chunk(kind, body)
    return out + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def tiff(width: int, height: int, *, frames: int = 1, entries: int | None = None) -> bytes:
    """A little-endian TIFF of `frames` IFDs, each declaring width × height 8-bit gray over one
    shared 16-byte white strip (the declared size is what matters; nothing more is stored)."""
    strip = 8
    tags = [
        (256, 4, 1, width),  # ImageWidth
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: BlackIsZero
        (273, 4, 1, strip),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, 16),  # StripByteCounts
    ]
    if entries is not None:
        tags = tags[:entries]
    ifd_size = 2 + 12 * len(tags) + 4
    first = 8 + 16
    out = bytearray(b"II*\x00" + struct.pack("<I", first) + b"\xff" * 16)
    for k in range(frames):
        out += struct.pack("<H", len(tags))
        for tag, typ, count, value in tags:
            if typ == 3:
                out += struct.pack("<HHIHH", tag, typ, count, value, 0)
            else:
                out += struct.pack("<HHII", tag, typ, count, value)
        out += struct.pack("<I", first + (k + 1) * ifd_size if k + 1 < frames else 0)
    return bytes(out)


def pil_bytes(image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def _text_image(size=(400, 200)):
    """A small page image with a few marks (cheap to OCR)."""
    from PIL import Image, ImageDraw

    im = Image.new("L", size, 255)
    d = ImageDraw.Draw(im)
    d.rectangle((20, 20, size[0] - 20, size[1] - 20), outline=0, width=2)
    d.text((40, 60), "annual report 2023", fill=0)
    return im


# ---------------------------------------------------------------------------------------------
# The corpus


def _sparse(path: Path, size: int, head: bytes = b"") -> None:
    """A file of `size` bytes whose tail past `head` is a hole (takes no disk, reads as zeros)."""
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)


_LOGIN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>统一身份认证平台</title></head>
<body><div class="login"><h2>用户登录</h2>
<form action="/sso/login" method="post"><p>用户名 <input name="u"></p><p>密码 <input type="password" name="p"></p>
<p>验证码 <input name="c"><img src="/captcha.jpg"></p><button>登录</button></form>
<p>会话已过期，请重新登录后访问政府信息公开专栏。</p></div></body></html>
"""


def _gen_cases() -> list[  # noqa: C901 - a flat catalogue of cases, one branch each
    tuple[str, str, Callable[[Path], None], frozenset[str], float, str, bool]
]:
    """(file name, case name, writer, expect, time limit, note, slow)."""
    cases: list = []
    memo: dict[str, bytes] = {}

    def pdf_report() -> bytes:
        if "pdf" not in memo:
            memo["pdf"] = report_pdf()
        return memo["pdf"]

    def add(fname, expect, note, writer, *, limit=20.0, slow=False, name=None):
        if isinstance(expect, str):
            expect = {expect}
        cases.append((fname, name or Path(fname).stem, writer, frozenset(expect), limit, note, slow))

    def data(b: bytes | Callable[[], bytes]):
        def write(path: Path) -> None:
            path.write_bytes(b() if callable(b) else b)

        return write

    text = report_text()

    # -- nothing there, or the wrong thing under the name -----------------------------------
    add("empty_0_bytes.pdf", EMPTY, "0 bytes under a .pdf name", data(b""))
    add("whitespace_only.txt", EMPTY, "only spaces, tabs and line ends", data(b" \t\r\n" * 200 + "\u3000".encode() * 50))
    add("pdf_header_only.pdf", CORRUPT, "just the %PDF-1.7 header line", data(b"%PDF-1.7\n"))
    add("zip_named_pdf.pdf", UNSUPPORTED, "a ZIP archive (two text files) under a .pdf name",
        data(lambda: raw_zip([deflated("a.txt", b"hello " * 100), stored("b.txt", b"world")])))
    add("elf_named_pdf.pdf", UNSUPPORTED, "an ELF executable header under a .pdf name",
        data(b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + bytes(4096)))
    add("exe_named_docx.docx", UNSUPPORTED, "a Windows PE executable under a .docx name",
        data(b"MZ\x90\x00\x03" + bytes(59) + b"PE\x00\x00" + bytes(2048)))
    add("login_page_named_pdf.pdf", NOT_REPORT, "an HTML single-sign-on login page saved under a .pdf name",
        data(_LOGIN_PAGE.encode()))
    add("login_page.html", NOT_REPORT, "the crawler got the SSO login page instead of the report", data(_LOGIN_PAGE.encode()))
    add("gzip_html.html", UNSUPPORTED, "a gzip-compressed HTML page saved raw (Content-Encoding kept)",
        data(lambda: __import__("gzip").compress(_LOGIN_PAGE.encode(), mtime=0)))
    add("ole_legacy.doc", UNSUPPORTED, "a legacy Word (OLE2) file header",
        data(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096)))
    add("random_bytes.pdf", {UNSUPPORTED, UNDECODABLE}, "64 KiB of random bytes under a .pdf name",
        data(lambda: random.Random(6).randbytes(65536)))
    add("not_report.csv", NOT_REPORT, "a CSV export (not a report)",
        data("序号,单位,金额\n" .encode() + "".join(f"{i},单位{i},{i * 37}\n" for i in range(500)).encode()))
    add("json_api.json", NOT_REPORT, "a JSON API error body saved as the document",
        data(json.dumps({"code": 403, "msg": "无权访问", "data": None}, ensure_ascii=False).encode()))
    add("drawing.svg", NOT_REPORT, "an SVG image",
        data(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
             b'<rect width="10" height="10"/></svg>'))

    # -- PDFs: structure ---------------------------------------------------------------------
    def truncated_xref() -> bytes:
        pdf = pdf_report()
        cut = pdf.rindex(b"xref")
        return pdf[: cut + 40]  # the xref table cut in its first entries, no trailer

    add("truncated_xref.pdf", {OK, CORRUPT}, "the report PDF cut inside its xref table (PDFium may rebuild it)",
        data(truncated_xref))
    add("truncated_half.pdf", CORRUPT, "the report PDF cut in half", data(lambda: pdf_report()[: len(pdf_report()) // 2]))

    def wrong_lengths() -> bytes:
        import re

        return re.sub(rb"/Length (\d+)", lambda m: b"/Length %d" % (int(m.group(1)) * 3 + 7), pdf_report())

    add("broken_stream_lengths.pdf", {OK, PARTIAL, CORRUPT}, "every /Length of the report PDF is wrong", data(wrong_lengths))

    def polyglot() -> bytes:
        return pdf_report() + raw_zip([deflated("payload.txt", b"zip member " * 50)])

    add("pdf_zip_polyglot.pdf", OK, "the report PDF with a ZIP archive appended (valid as both)", data(polyglot))

    def zip_first_polyglot() -> bytes:
        return raw_zip([stored("r.pdf", pdf_report())])

    add("zip_pdf_polyglot.zip", {OK, CORRUPT, UNSUPPORTED}, "a ZIP whose stored member is the report PDF (%PDF- at byte 35)",
        data(zip_first_polyglot))

    def js_action() -> bytes:
        js = b"<< /Type /Action /S /JavaScript /JS (app.alert\\('x'\\); this.exportDataObject\\({cName: 'a'}\\);) >>"
        # written into the catalog in place: the xref offsets after it are then off (PDFium repairs them)
        return pdf_report().replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction " + js, 1)

    add("javascript_openaction.pdf", {OK, PARTIAL}, "the report PDF with a JavaScript /OpenAction (xref offsets then off: repaired)",
        data(js_action))
    add("zero_pages.pdf", CORRUPT, "a page tree with no kids, /Count 0",
        data(pdf_objects([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])))
    add("no_page_tree.pdf", CORRUPT, "a catalog without /Pages", data(pdf_objects([b"<< /Type /Catalog >>"])))

    def many_pages(n: int) -> bytes:
        kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(n))
        pages = [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R >>"] * n
        return pdf_objects(
            [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n),
             stream(b"BT /F1 12 Tf 72 720 Td (page) Tj ET"), b"<< >>", *pages]
        )

    add("pages_10000.pdf", TOO_LARGE, "10,000 pages (refused from the page count, no page parsed)",
        data(lambda: many_pages(10_000)), limit=10)

    def cyclic_tree() -> bytes:
        return pdf_objects(
            [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
             b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>"]
        )

    def empty_pages(n: int) -> bytes:
        kids = b" ".join(b"%d 0 R" % (3 + i) for i in range(n))
        pages = [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"] * n
        return pdf_objects([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n), *pages])

    add("pages_300_empty.pdf", NOT_REPORT, "300 pages with nothing on them (the service's page limit): nothing rendered",
        data(lambda: empty_pages(300)), limit=30)
    add("cyclic_page_tree.pdf", CORRUPT, "a page tree whose kid is its own parent", data(cyclic_tree))

    def deep_tree(depth: int) -> bytes:
        objs = [b"<< /Type /Catalog /Pages 2 0 R >>"]
        for i in range(depth):
            n = 2 + i
            objs.append(b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (n + 1))
        objs.append(b"<< /Type /Page /MediaBox [0 0 595 842] >>")
        return pdf_objects(objs)

    add("deep_page_tree.pdf", {CORRUPT, NOT_REPORT}, "a page tree 5,000 levels deep", data(lambda: deep_tree(5000)))

    def deep_objects(depth: int) -> bytes:
        nested = b"[" * depth + b"]" * depth
        dicts = b"<< /A " * depth + b">>" * depth
        return one_page_pdf(
            b"BT /F1 12 Tf 72 720 Td (deep) Tj ET",
            resources=b"<< /Font << /F1 5 0 R >> /X %s >>" % nested,
            extra=[b"<< /Deep %s >>" % dicts],
        )

    add("deeply_nested_objects.pdf", {NOT_REPORT, CORRUPT}, "arrays and dictionaries nested 100,000 deep",
        data(lambda: deep_objects(100_000)), slow=True, limit=30)

    def broken_page() -> bytes:
        import re

        pdf = pdf_report()
        pages = [m for m in re.finditer(rb"\n\d+ 0 obj\n<<(.*?)endobj", pdf, re.S) if b"/Type /Page\n" in m.group(1)]
        i = pages[0].start(1) - 2
        return pdf[:i] + b"[[" + pdf[i + 2 :]

    add("one_broken_page.pdf", PARTIAL, "the report PDF with page 1's page object broken (tables on page 2-3)",
        data(broken_page))

    # -- PDFs: size and decoding bombs ---------------------------------------------------------
    add("page_200x200_inch.pdf", NOT_REPORT, "one page of 200 × 200 inches (14,400 pt) with a frame and a line of text: "
        "rendered within the pixel limits, then OCR",
        data(one_page_pdf(b"0 G 40 w 200 200 14000 14000 re S BT /F1 900 Tf 1500 7000 Td (Annual report 2023) Tj ET",
                          media=b"[0 0 14400 14400]", resources=b"<< /Font << /F1 5 0 R >> >>")), slow=True, limit=60)
    add("page_absurd_mediabox.pdf", TOO_LARGE, "a page of 10⁹ × 10⁹ pt (the page fails before it is rendered)",
        data(one_page_pdf(b"", media=b"[0 0 1000000000 1000000000]")))
    add("page_zero_size.pdf", {CORRUPT, TOO_LARGE}, "a page with /MediaBox [0 0 0 0]",
        data(one_page_pdf(b"", media=b"[0 0 0 0]")))

    def image_page(width: int, height: int, filt: bytes, payload: bytes, bpc: int = 8, cs: bytes = b"/DeviceGray") -> bytes:
        img = stream(payload, b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent %d %s"
                     % (width, height, cs, bpc, filt))
        return one_page_pdf(b"q 595 0 0 842 0 0 cm /Im1 Do Q",
                            resources=b"<< /XObject << /Im1 6 0 R >> >>", extra=[img])

    def jbig2_bomb() -> bytes:
        w = h = 100_000
        # JBIG2 embedded stream: page information (type 48) declaring w × h, then end of page (type 49)
        page_info = struct.pack(">IBBBI", 0, 48, 0, 1, 19) + struct.pack(">IIIIBH", w, h, 0, 0, 0, 0)
        end = struct.pack(">IBBBI", 1, 49, 0, 1, 0)
        return image_page(w, h, b"/Filter /JBIG2Decode", page_info + end, bpc=1)

    add("jbig2_pixel_bomb.pdf", TOO_LARGE, "a JBIG2 image of 100,000 × 100,000 pixels (10 gigapixels) on one page",
        data(jbig2_bomb))
    add("flate_image_bomb.pdf", TOO_LARGE, "a Flate RGB image declaring 60,000 × 60,000 pixels (10.8 GB raster; 64 KiB of "
        "deflate inflating to 64 MiB)",
        data(lambda: image_page(60_000, 60_000, b"/Filter /FlateDecode", zlib_run(0, 64), cs=b"/DeviceRGB")))
    add("one_pixel_images.pdf", NOT_REPORT, "two pages, each only a 1 × 1 pixel image stretched over the page",
        data(lambda: pdf_objects([
            b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 5 0 R /Resources << /XObject << /I 6 0 R >> >> >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 5 0 R /Resources << /XObject << /I 6 0 R >> >> >>",
            stream(b"q 595 0 0 842 0 0 cm /I Do Q"),
            stream(b"\x80", b"/Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8"),
        ])), slow=True, limit=60)
    add("content_stream_bomb.pdf", {NOT_REPORT, CORRUPT, TOO_LARGE}, "a page whose content stream inflates to 300 MiB of spaces",
        data(lambda: pdf_objects([
                 b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
                 stream(zlib_run(0x20, 300), b"/Filter /FlateDecode"),
             ])), slow=True, limit=60)

    # -- PDFs: encryption ---------------------------------------------------------------------
    for method in ("rc4-40", "rc4-128", "aes-128", "aes-256"):
        tag = method.replace("-", "_")
        add(f"encrypted_{tag}_user_password.pdf", ENCRYPTED, f"the report encrypted with {method}, a user password set",
            data(lambda m=method: encrypted_pdf(m, "secret")))
        add(f"encrypted_{tag}_empty_password.pdf", OK,
            f"the report encrypted with {method}, empty user password (an owner password only): readable by anyone",
            data(lambda m=method: encrypted_pdf(m, "")))

    # -- images -------------------------------------------------------------------------------
    add("png_pixel_bomb.png", TOO_LARGE, "a PNG declaring 60,000 × 60,000 pixels (3.6 gigapixels), tiny IDAT",
        data(lambda: png(60_000, 60_000, zlib.compress(b"\x00" * 64))))
    add("png_deflate_bomb.png", TOO_LARGE, "a real 1-bit PNG of 25,000 × 25,000 pixels (625 MP) whose IDAT inflates to 78 MiB",
        data(lambda: png(25_000, 25_000, zlib_run(0, 78), bit_depth=1)))
    add("png_ztxt_bomb.png", {NOT_REPORT, CORRUPT, TOO_LARGE}, "a small PNG with a zTXt chunk that inflates to 100 MiB",
        data(lambda: png(64, 64, zlib.compress((b"\x00" + b"\xff" * 64) * 64),
                         chunks=[(b"zTXt", b"Comment\x00\x00" + zlib_run(0x41, 100))])), slow=True, limit=30)
    add("png_at_pixel_limit.png", NOT_REPORT, "a blank RGB page image of 7,000 × 7,000 pixels (49 MP, just under the limit): "
        "decoded and read", data(lambda: png(7000, 7000, zlib_repeat((b"\x00" + b"\xff" * 21000) * 50, 140), color=2)),
        slow=True, limit=60)
    add("tiff_pixel_bomb.tif", TOO_LARGE, "a TIFF declaring 100,000 × 100,000 8-bit pixels",
        data(tiff(100_000, 100_000)))
    add("tiff_over_page_limit.tif", TOO_LARGE, "a TIFF of 9,000 × 9,000 pixels (81 MP: under Pillow's bomb limit, over ours)",
        data(tiff(9_000, 9_000)))
    add("tiff_zero_frames.tif", CORRUPT, "a TIFF whose first IFD has no entries", data(tiff(10, 10, entries=0)))

    add("tiff_1200_frames.tif", TOO_LARGE, "a multi-page TIFF of 1,200 frames of 16 × 16 (over the page limit)",
        data(lambda: tiff(16, 16, frames=1200)))
    add("gif_blank.gif", NOT_REPORT, "a GIF page image with no text (OCR finds nothing)",
        data(lambda: pil_bytes(_text_image((400, 300)), "GIF")), slow=True, limit=40)
    add("webp_tiny.webp", {CORRUPT, NOT_REPORT}, "a WebP image of 8 × 8 pixels",
        data(lambda: pil_bytes(__import__("PIL.Image", fromlist=["Image"]).new("RGB", (8, 8), "white"), "WEBP")))
    add("bmp_1px.bmp", CORRUPT, "a 1 × 1 pixel BMP",
        data(lambda: pil_bytes(__import__("PIL.Image", fromlist=["Image"]).new("RGB", (1, 1), "white"), "BMP")))
    add("jpeg_truncated.jpg", CORRUPT, "a JPEG cut in half",
        data(lambda: (lambda b: b[: len(b) // 2])(pil_bytes(_text_image((800, 600)).convert("RGB"), "JPEG", quality=90))))
    add("png_truncated.png", CORRUPT, "a PNG cut in half (IDAT incomplete, no IEND)",
        data(lambda: (lambda b: b[: len(b) // 2])(pil_bytes(
            __import__("PIL.Image", fromlist=["Image"]).frombytes("L", (600, 400), random.Random(3).randbytes(240_000)), "PNG"))))

    # -- DOCX ---------------------------------------------------------------------------------
    add("docx_empty.docx", {EMPTY, NOT_REPORT}, "a valid DOCX with an empty body", data(lambda: docx_with(_paragraphs_xml([]))))

    def xlsx() -> bytes:
        from openpyxl import Workbook

        wb = Workbook()
        wb.active["A1"] = "政府信息公开工作年度报告"
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()

    add("renamed_xlsx.docx", UNSUPPORTED, "an Excel workbook renamed to .docx", data(xlsx))

    def docx_bomb() -> bytes:
        bomb, size, crc = deflate_run(0x20, 400)
        return raw_zip([deflated("[Content_Types].xml", _CONTENT_TYPES), deflated("_rels/.rels", _RELS),
                        ("word/document.xml", bomb, 8, size, crc)])

    add("docx_zip_bomb.docx", TOO_LARGE, "word/document.xml inflates from 400 KiB to 400 MiB", data(docx_bomb))

    def docx_spread_bomb() -> bytes:
        part, size, crc = deflate_run(0x20, 9)
        members = [(f"word/media/part{i:03d}.bin", part, 8, size, crc) for i in range(30)]
        return docx_with(_paragraphs_xml(["x"]), extra=members)

    add("docx_spread_bomb.docx", TOO_LARGE, "30 parts of 9 MiB each (each under the per-part ratio check; 270 MiB in all)",
        data(docx_spread_bomb))

    def docx_lying_sizes() -> bytes:
        bomb, _size, _crc = deflate_run(0x20, 100)
        return raw_zip([deflated("[Content_Types].xml", _CONTENT_TYPES), deflated("_rels/.rels", _RELS),
                        ("word/document.xml", bomb, 8, 2000, 0)])

    def docx_cell_bomb() -> bytes:
        row = b"<w:tr>" + b"<w:tc><w:p/></w:tc>" * 1000 + b"</w:tr>"
        xml = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document ' + _W_NS + b"><w:body>"
               + "<w:p><w:r><w:t>政府信息公开工作年度报告</w:t></w:r></w:p>".encode() + b"<w:tbl>"
               + row * 540 + b"</w:tbl></w:body></w:document>")
        return docx_with(xml)

    add("docx_cell_bomb.docx", TOO_LARGE, "a table of 540,000 empty cells (9.8 MiB of XML: under the XML and zip-ratio limits)",
        data(docx_cell_bomb), slow=True, limit=40)
    add("docx_lying_sizes.docx", {CORRUPT, TOO_LARGE}, "word/document.xml declares 2,000 bytes but inflates to 100 MiB",
        data(docx_lying_sizes))
    add("docx_billion_laughs.docx", {CORRUPT, NOT_REPORT}, "document.xml with nested internal entities (billion laughs)",
        data(lambda: docx_with(_paragraphs_xml(
            ["&lol9;"],
            prolog=b'<!DOCTYPE d [<!ENTITY lol "lol">'
            + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
            + b"]>"))))
    add("docx_xxe.docx", {CORRUPT, EMPTY}, "document.xml with an external entity pointing at /etc/passwd (never resolved: "
        "the document has no text)",
        data(lambda: docx_with(_paragraphs_xml(
            ["&xxe;"], prolog=b'<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'))))
    add("docx_truncated.docx", CORRUPT, "a DOCX cut in half",
        data(lambda: (lambda b: b[: len(b) // 2])(docx_with(_paragraphs_xml(["政府信息公开"] * 200)))))

    # -- HTML ---------------------------------------------------------------------------------
    def huge_html(path: Path) -> None:
        head = b"<!DOCTYPE html><html><body>" + b"<div>" * 200_000
        _sparse(path, 1 << 30, head)

    add("html_nesting_1gib.html", TOO_LARGE, "1 GiB of HTML (nested <div>s, then a sparse tail): refused from its size",
        huge_html)
    add("html_deep_nesting.html", NOT_REPORT, "nested <div>s 790,000 deep (4 MB, just under the character limit)",
        data(b"<!DOCTYPE html><html><body>" + b"<div>" * 790_000 + "政府信息公开".encode() + b"</div>" * 1000),
        slow=True, limit=30)
    add("html_nested_tables.html", NOT_REPORT, "tables nested 20,000 deep",
        data(b"<html><body>" + b"<table><tr><td>" * 20_000 + b"x" + b"</td></tr></table>" * 20_000 + b"</body></html>"))
    add("html_colspan_bomb.html", TOO_LARGE, "10,000 empty cells with colspan=100000 rowspan=100000",
        data(b"<html><body><table>" + b'<tr><td colspan="100000" rowspan="100000"></td><td>1</td></tr>' * 10_000
             + b"</table></body></html>"))
    add("html_billion_laughs.html", {NOT_REPORT}, "an XHTML page with nested internal entities (billion laughs)",
        data(b'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY a "aaaaaaaaaa">'
             + b"".join(b'<!ENTITY a%d "%s">' % (i, (b"&a%d;" % (i - 1) if i > 1 else b"&a;") * 10) for i in range(1, 10))
             + b']><html><body><p>&a9;</p></body></html>'))
    add("html_gb2312_meta.html", OK, "the report as an HTML page in GB2312 with <meta charset=gb2312>",
        data(lambda: report_html().replace("{charset}", "gb2312").encode("gb18030")))
    add("html_big5_traditional.html", OK, "the report in traditional characters, Big5 with <meta charset=big5>",
        data(lambda: to_traditional(report_html().replace("{charset}", "big5")).encode("cp950", errors="xmlcharrefreplace")))

    # -- text ---------------------------------------------------------------------------------
    add("text_gb18030.txt", OK, "the report as GB18030 text", data(text.encode("gb18030")))
    add("text_utf16le_bom.txt", OK, "the report as UTF-16LE with a byte-order mark", data(text.encode("utf-16")))
    add("text_utf16be_no_bom.txt", OK, "the report as UTF-16BE without a byte-order mark", data(text.encode("utf-16-be")))
    add("text_traditional.txt", OK, "the report in traditional characters (UTF-8)", data(to_traditional(text).encode()))
    add("text_big5_traditional.txt", OK, "the report in traditional characters, Big5 text (no declaration)",
        data(to_traditional(text).encode("cp950", errors="replace")))

    def mixed_endings() -> bytes:
        lines = text.split("\n")
        seps = ["\r\n", "\n", "\r", "\r\n", "\n"]
        return "".join(ln + seps[i % len(seps)] for i, ln in enumerate(lines)).encode()

    add("text_mixed_line_endings.txt", OK, "the report with \\r\\n, \\n and \\r line ends mixed", data(mixed_endings))
    add("text_nul_padded.txt", OK, "the report followed by 64 KiB of NUL padding (a short write on the server)",
        data(text.encode() + bytes(65536)))
    add("text_nul_scattered.txt", {OK, UNSUPPORTED}, "the report with a NUL byte after every line",
        data(text.replace("\n", "\x00\n").encode()))
    add("text_tab_flood.txt", TOO_LARGE, "the report's title, then a line of two numbers 3.9 million tabs apart",
        data(text.split("\n", 3)[2].encode() + b"\n1" + b"\t" * 3_900_000 + b"2\n"))
    add("text_too_many_chars.txt", TOO_LARGE, "7 MB of one letter on one line (under the byte limit, over the character limit)",
        data(b"a" * 7_000_000))

    def glued_digits() -> bytes:
        import re

        return re.sub(r"\t(\d+)", lambda m: "\t" + m.group(1) * 40, text).encode()

    add("text_glued_digit_runs.txt", {OK, PARTIAL, TABLES_MISSING, NOT_REPORT}, "every cell value of the report repeated 40 times (very long digit runs)",
        data(glued_digits), limit=60, slow=True)
    add("oversize_50mib_plus_1.pdf", TOO_LARGE, "a %PDF- header and a sparse tail: 50 MiB + 1 byte",
        lambda p: _sparse(p, MAX_BYTES + 1, b"%PDF-1.7\n"))
    add("..\\..\\windows\\system32\\report.txt", OK,
        "the report under a Windows path-traversal file name (backslashes are ordinary characters on Linux)",
        data(text.encode()), name="traversal_file_name")
    add("-rf 报告\u202etxt.exe\n.txt", OK, "the report under a name with a leading dash, a right-to-left override and a newline",
        data(text.encode()), name="odd_file_name")
    return cases


def build_corpus(directory: Path) -> list[HostileCase]:
    """Write every case's file into `directory` (created if missing) and return the cases, in a
    fixed order. Deterministic; takes a second or two."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out: list[HostileCase] = []
    for fname, name, writer, expect, limit, note, slow in _gen_cases():
        path = directory / fname
        writer(path)
        out.append(HostileCase(name, path, expect, limit, note, slow))
    names = [c.name for c in out]
    assert len(set(names)) == len(names), "case names must be unique"
    return out


def valid_report(directory: Path) -> Path:
    """A valid job (the report as UTF-8 text), to check a worker after a hostile case."""
    path = Path(directory) / "valid_report.txt"
    path.write_text(report_text(), encoding="utf-8")
    return path


__all__ = ["HostileCase", "build_corpus", "report_pdf", "report_text", "report_truth", "valid_report"]
