// placeholder: compiles assembly/*.ts with AssemblyScript (filled in by the rsync work)
