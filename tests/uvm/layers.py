"""Read-only layers as hcsshim packs them, built on the host side for the
VM's nvdimm (tests/uvm/test_uvm_storage.py, bench/storage): ext4 images of
LAYER bytes (mkfs.ext4 -d), dm-verity in hcsshim's layout (veritysetup
format with the superblock and hash tree right after the ext4 data, on the
same device), sizes rounded up to pages."""
import os
import shutil
import subprocess

MiB = 1 << 20
LAYER = 8 * MiB


def ext4(path, files):
    src = path + ".d"
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
        with open(os.path.join(src, rel), "w") as f:
            f.write(text)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", src, path, f"{LAYER // MiB}M"], check=True,
                   capture_output=True)
    shutil.rmtree(src)


def verity_format(path):
    """hcsshim's layout: the superblock and hash tree right after the ext4
    data, on the same device. Returns the VerityInfo the host would send."""
    out = subprocess.run(["veritysetup", "format", f"--hash-offset={LAYER}", f"--data-blocks={LAYER // 4096}",
                          path, path], check=True, capture_output=True, text=True).stdout
    kv = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            kv[k.strip()] = v.strip()
    return {"Ext4SizeInBytes": LAYER, "Version": 1, "Algorithm": kv["Hash algorithm"], "SuperBlock": True,
            "RootDigest": kv["Root hash"], "Salt": kv["Salt"], "BlockSize": int(kv["Data block size"])}


def page_up(n):
    return (n + 4095) // 4096 * 4096
