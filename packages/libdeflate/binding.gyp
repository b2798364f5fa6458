{
  "variables": {
    # 1 when Intel ISA-L (libisal-dev) is installed: the streaming inflater then uses isal_inflate.
    "have_isal%": "<!(node scripts/has-isal.mjs)"
  },
  "targets": [
    {
      "target_name": "deflate_addon",
      "sources": ["src/addon.c", "src/md4-lanes.c", "src/ofd-lock.c", "src/stat-names.c"],
      "cflags": ["-O2", "-std=c11", "-Wall", "-Wextra"],
      "libraries": ["-ldeflate", "-lz"],
      "conditions": [
        ["have_isal==1", { "defines": ["HAVE_ISAL"], "libraries": ["-lisal"] }]
      ]
    }
  ]
}
