"""The paper's method: benchmarks, the score table, kinship (S_pref, tau), pair selection
(K_score, K_sim, K_(score,sim), the RLAIF baseline) and binarization. Pure numpy/pyarrow: no
files, no network, no click."""
