{
  "targets": [
    {
      "target_name": "deflate_addon",
      "sources": ["src/addon.c"],
      "cflags": ["-O2", "-std=c11", "-Wall", "-Wextra"],
      "libraries": ["-ldeflate", "-lz"]
    }
  ]
}
