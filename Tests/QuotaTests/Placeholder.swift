// Placeholder until the quota tests land; delete when another file exists here.
