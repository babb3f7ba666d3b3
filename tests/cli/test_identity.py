# SPDX-License-Identifier: Apache-2.0
"""A device identity published by the writer (ttshm_publish_device) shows in
every format: text, JSON (unique_id, name), CSV (chip_id, chip_name) and
Prometheus (chip_id/chip_name labels, ttshm_device_info). The writer is this
test process itself, through libttshm with ctypes, so it stays alive while
tt-shm-stat reads it."""
import ctypes
import os

from clitest import BIN, Registry, check, eq, run_tests, stat, stat_json


class Config(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("name", ctypes.c_char_p),
                ("initial_slots", ctypes.c_uint64), ("mode", ctypes.c_uint32),
                ("report_errors", ctypes.c_int)]


def open_writer(lib, registry):
    lib.ttshm_writer_open.argtypes = [ctypes.POINTER(Config), ctypes.POINTER(ctypes.c_void_p)]
    lib.ttshm_publish_device.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64,
                                         ctypes.c_char_p]
    lib.ttshm_record_alloc.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                       ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64]
    lib.ttshm_writer_close.argtypes = [ctypes.c_void_p]
    cfg = Config(ctypes.sizeof(Config), registry.encode(), 0, 0, 1)
    w = ctypes.c_void_p()
    rc = lib.ttshm_writer_open(ctypes.byref(cfg), ctypes.byref(w))
    eq(rc, 0, "ttshm_writer_open")
    return w


CHIP = 0x1234ABCD5678
CHIP_TEXT = "0x%016x" % CHIP


def test_identity_in_every_format():
    lib = ctypes.CDLL(os.path.join(BIN, "core", "libttshm.so"))
    with Registry("ident") as reg:
        w = open_writer(lib, reg.name)
        try:
            eq(lib.ttshm_publish_device(w, 1, CHIP, b"n300 L"), 0, "ttshm_publish_device")
            eq(lib.ttshm_record_alloc(w, 1, 0, 0x1000, 4096, 7), 0, "alloc on device 1")
            eq(lib.ttshm_record_alloc(w, 0, 0, 0x2000, 8192, 8), 0, "alloc on device 0")

            text = stat("--name", reg.name)
            eq(text.returncode, 0, "exit status")
            check("device 1: chip %s n300 L" % CHIP_TEXT in text.stdout, "text identity line",
                  text.stdout)
            check("device 0: chip" not in text.stdout, "no identity for device 0", text.stdout)

            doc = stat_json(reg)
            devs = {d["device"]: d for d in doc["segments"][0]["devices"]}
            eq((devs[1]["unique_id"], devs[1]["name"]), (CHIP_TEXT, "n300 L"), "JSON identity")
            eq((devs[0]["unique_id"], devs[0]["name"]), (None, None), "JSON unpublished")
            tot = {d["device"]: d for d in doc["totals"]["devices"]}
            eq(tot[1]["unique_id"], CHIP_TEXT, "JSON totals identity")

            csv = stat("--name", reg.name, "--query", "device,chip_id,chip_name",
                       "--format", "csv,noheader").stdout.splitlines()
            check("1,%s,n300 L" % CHIP_TEXT in csv and "0,," in csv, "CSV identity", csv)

            prom = stat("--name", reg.name, "--prometheus").stdout
            check('ttshm_device_info{device="1",chip_id="%s",chip_name="n300 L"} 1' % CHIP_TEXT
                  in prom, "ttshm_device_info", prom[-1500:])
            check('ttshm_device_live_bytes{device="1",type="DRAM",chip_id="%s",'
                  'chip_name="n300 L"} 4096' % CHIP_TEXT in prom, "chip labels on device series")
            check('ttshm_device_live_bytes{device="0",type="DRAM"} 8192' in prom,
                  "no chip label where none was published")
        finally:
            lib.ttshm_writer_close(w)


run_tests(globals())
