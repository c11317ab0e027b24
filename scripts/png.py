"""Reads the 8-bit RGB/RGBA PNGs Chromium writes, with the standard library
only: scripts/drill-screenshot.sh crops them, tests/e2e/report_html_test.sh
checks their colours."""
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Png:
    def __init__(self, path):
        data = open(path, "rb").read()
        assert data[:8] == SIGNATURE, "not a PNG"
        pos, self.chunks, idat = 8, [], []  # chunks: (kind, body) but IDAT and IEND
        while pos < len(data):
            n, kind = struct.unpack(">I4s", data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + n]
            pos += 12 + n
            if kind == b"IDAT":
                idat.append(body)
            elif kind != b"IEND":
                self.chunks.append((kind, body))
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", self.chunks[0][1])
        assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG format"
        self.width, self.height, self.ctype = w, h, ctype
        self.bpp = 3 if ctype == 2 else 4
        self.stride = w * self.bpp
        self.raw = zlib.decompress(b"".join(idat))  # filtered rows, a filter byte each

    def rows(self):
        """Each row's pixel bytes, unfiltered, top to bottom."""
        bpp, stride, prev = self.bpp, self.stride, bytes(self.stride)
        for y in range(self.height):
            at = y * (stride + 1)
            f, line = self.raw[at], bytearray(self.raw[at + 1:at + 1 + stride])
            if f == 1:
                for i in range(bpp, stride):
                    line[i] = (line[i] + line[i - bpp]) & 255
            elif f == 2:
                line = bytearray((a + b) & 255 for a, b in zip(line, prev))
            elif f == 3:
                for i in range(stride):
                    line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
            elif f == 4:
                for i in range(stride):
                    a, b = (line[i - bpp] if i >= bpp else 0), prev[i]
                    c = prev[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            prev = bytes(line)
            yield prev

    def rgb(self, row):
        """A row's bytes without alpha."""
        return row if self.bpp == 3 else bytes(v for i, v in enumerate(row) if i % 4 != 3)

    def cropped(self, keep):
        """The PNG's bytes with only its first `keep` rows (rows are filtered
        against the rows above only, so theirs are kept as they are)."""
        def chunk(kind, body):
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        ihdr = struct.pack(">IIBBBBB", self.width, keep, 8, self.ctype, 0, 0, 0)
        out = SIGNATURE + chunk(b"IHDR", ihdr)
        for kind, body in self.chunks[1:]:
            out += chunk(kind, body)
        return out + chunk(b"IDAT", zlib.compress(self.raw[:keep * (self.stride + 1)], 9)) + chunk(b"IEND", b"")
