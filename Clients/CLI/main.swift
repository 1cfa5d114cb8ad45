print("coffre CLI: not built yet")
