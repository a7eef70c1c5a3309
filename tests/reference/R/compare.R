# Reference fixtures for comparisons: subgroups (separate and common tau^2), pairwise contrasts,
# meta-regression and permutation tests.  Writes tests/reference/compare.json.
#
#   Rscript tests/reference/make_reference.R compare
#
# Sourced by make_reference.R with REF_DIR set (the tests/reference folder), after helpers.R
# (num, vec, capture, CTRL, GLMER_CTRL, write_fixture, ...).
# JSON encoding as in helpers.R: digits = NA (15 significant digits), R NA -> null, NaN/Inf ->
# "NaN"/"Inf"/"-Inf" strings (a NULL field -> {}), a fit that failed has "error" and its
# warnings in "warnings".
#
# Conventions (metafor 3.8-1; package `meta` is NOT installed here, so meta's subgroup test is
# computed by hand exactly as meta:::subgroup does it):
#   * separate tau^2: every group is fitted on its own (rma with the same method/test; k = 1
#     groups get tau^2 = 0 and test = "z", as rma does); Q_between = sum w_g (b_g - bbar)^2
#     with w_g = 1 / se_g^2 and bbar = sum w_g b_g / sum w_g, df = G - 1 (meta: Q.b.random =
#     metagen(TE.random.w, seTE.random.w)$Q; under Hartung-Knapp meta's seTE.random is the HK
#     standard error, so se_g here is the group's Knapp-Hartung se).
#   * common tau^2: rma(yi, vi, mods = ~ factor(g, levels = order of first appearance),
#     method, test): QM / QMp / QMdf, and predict() for each level.
#   * contrasts: all pairs (a, b) with a before b in group order; separate: d = b_a - b_b,
#     se = sqrt(se_a^2 + se_b^2), z test, normal CI; common: d = L beta, se = sqrt(L vb L'),
#     z or t(k - p) as the model's test; Holm-adjusted p (p.adjust(method = "holm")).
#     Proportions: difference of back-transformed estimates with a delta-method SE
#     (derivative of the inverse transformation: PLO p(1 - p), PAS sin(2 theta)) and a normal CI.
#   * meta-regression: rma(yi, vi, mods, method, test) with every method; R2 is NULL (-> null)
#     for models without intercept.
#   * permutest(res, exact = TRUE) for small k; a random permutest with set.seed for a
#     distributional check.
reg_numbers <- function(res) {
  list(terms = rownames(res$beta), beta = vec(res$beta), se = vec(res$se),
       stat = vec(res$zval), pval = vec(res$pval), ci_lb = vec(res$ci.lb),
       ci_ub = vec(res$ci.ub), vb = vec(as.vector(res$vb)), QM = num(res$QM),
       QMp = num(res$QMp), QMdf = vec(res$QMdf), QE = num(res$QE), QEp = num(res$QEp),
       tau2 = num(res$tau2), I2 = num(res$I2), H2 = num(res$H2), R2 = num(res$R2),
       k = res$k, p = res$p)
}

pred_numbers <- function(pr) {
  list(pred = vec(pr$pred), se = vec(pr$se), ci_lb = vec(pr$ci.lb), ci_ub = vec(pr$ci.ub),
       pi_lb = vec(pr$pi.lb), pi_ub = vec(pr$pi.ub))
}

# ---------------------------------------------------------------- datasets
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg_data <- list(yi = vec(bcg$yi), vi = vec(bcg$vi), ablat = vec(bcg$ablat),
                 year = vec(bcg$year), alloc = as.character(bcg$alloc),
                 label = as.character(bcg$author),
                 source = "metadat::dat.bcg, escalc(measure = 'RR')")
deb <- dat.debruin2009
deb_data <- list(events = vec(deb$xi), n = vec(deb$ni), scq = vec(deb$scq),
                 ethnicity = as.character(deb$ethnicity), label = as.character(deb$author),
                 source = "metadat::dat.debruin2009 (xi, ni, scq, ethnicity)")

# ---------------------------------------------------------------- meta-regression
reg_specs <- list(
  list(name = "bcg_ablat_year", data = "bcg", mods = "ablat + year", f = ~ ablat + year,
       newmods = rbind(c(30, 1970), c(50, 1950))),
  list(name = "bcg_alloc", data = "bcg", mods = "alloc", f = ~ alloc,
       newmods = rbind(c(0, 0), c(1, 0), c(0, 1))),
  list(name = "bcg_ablat_noint", data = "bcg", mods = "ablat - 1", f = ~ ablat - 1,
       newmods = rbind(20, 40)),
  list(name = "bcg_alloc_noint", data = "bcg", mods = "alloc - 1", f = ~ alloc - 1,
       newmods = NULL),
  list(name = "bcg_intercept_only", data = "bcg", mods = NULL, f = NULL, newmods = NULL),
  list(name = "debruin_plo_scq", data = "debruin", mods = "scq", f = ~ scq,
       newmods = rbind(5, 25)),
  list(name = "debruin_plo_ethnicity", data = "debruin", mods = "ethnicity", f = ~ ethnicity,
       newmods = rbind(0, 1))
)

deb_plo <- escalc(measure = "PLO", xi = xi, ni = ni, data = deb)
metareg <- list()
for (spec in reg_specs) {
  d <- if (spec$data == "bcg") bcg else deb_plo
  methods <- if (spec$data == "bcg") ALL_METHODS else c("DL", "REML", "PM", "FE")
  for (method in methods) for (test in TESTS) {
    fit <- capture(if (is.null(spec$f)) {
      rma(yi, vi, data = d, method = method, test = test, control = CTRL)
    } else {
      rma(yi, vi, mods = spec$f, data = d, method = method, test = test, control = CTRL)
    })
    case <- list(name = spec$name, dataset = spec$data, mods = spec$mods, method = method,
                 test = test, warnings = fit$warnings)
    if (!is.null(fit$error)) {
      case$error <- fit$error
    } else {
      case$result <- reg_numbers(fit$value)
      if (!is.null(spec$newmods)) {
        pr <- predict(fit$value, newmods = spec$newmods)
        case$newmods <- lapply(seq_len(nrow(spec$newmods)), function(i) vec(spec$newmods[i, ]))
        case$predict <- pred_numbers(pr)
      }
    }
    metareg[[length(metareg) + 1]] <- case
  }
}

# ---------------------------------------------------------------- subgroups and contrasts
inv_deriv <- function(measure, theta) {
  switch(measure, PLO = transf.ilogit(theta) * (1 - transf.ilogit(theta)),
         PAS = sin(2 * theta), GEN = NA_real_)
}
inv_transf <- function(measure, theta) {
  switch(measure, PLO = transf.ilogit(theta), PAS = transf.iarcsin(theta), GEN = theta)
}

pairs_of <- function(G) {
  out <- list()
  for (a in seq_len(G - 1)) for (b in (a + 1):G) out[[length(out) + 1]] <- c(a, b)
  out
}

group_fit <- function(yi, vi, method, test, measure) {
  fit <- capture(rma(yi, vi, method = method, test = test, control = CTRL))
  res <- fit$value
  pr <- predict(res)
  out <- list(k = res$k, b = num(res$beta), se = num(res$se), stat = num(res$zval),
              pval = num(res$pval), ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
              pi_lb = num(if (is.null(pr$pi.lb)) pr$ci.lb else pr$pi.lb),
              pi_ub = num(if (is.null(pr$pi.ub)) pr$ci.ub else pr$pi.ub),
              tau2 = num(res$tau2), I2 = num(res$I2), H2 = num(res$H2), QE = num(res$QE),
              QEp = num(res$QEp), estimate = num(inv_transf(measure, res$beta)),
              warnings = fit$warnings, test_used = res$test)
  out
}

subgroup_case <- function(name, yi, vi, g, measure, method, test) {
  levs <- unique(g)
  G <- length(levs)
  groups <- lapply(levs, function(l) group_fit(yi[g == l], vi[g == l], method, test, measure))
  names(groups) <- levs
  b <- sapply(groups, function(x) x$b)
  se <- sapply(groups, function(x) x$se)
  w <- 1 / se^2
  Qb <- sum(w * (b - sum(w * b) / sum(w))^2)
  gf <- factor(g, levels = levs)
  cm <- capture(rma(yi, vi, mods = ~ gf, method = method, test = test, control = CTRL))
  res <- cm$value
  Xl <- cbind(1, diag(G)[, -1, drop = FALSE])
  pr <- predict(res, newmods = Xl[, -1, drop = FALSE])
  crit_c <- if (test == "knha") qt(0.975, res$k - res$p) else qnorm(0.975)
  sep <- list(); com <- list()
  for (pq in pairs_of(G)) {
    a <- pq[1]; bb <- pq[2]
    d <- b[a] - b[bb]; s <- sqrt(se[a]^2 + se[bb]^2); z <- d / s
    bt <- inv_transf(measure, b[a]) - inv_transf(measure, b[bb])
    bse <- sqrt((inv_deriv(measure, b[a]) * se[a])^2 + (inv_deriv(measure, b[bb]) * se[bb])^2)
    sep[[length(sep) + 1]] <- list(group_a = levs[a], group_b = levs[bb], diff = num(d),
      se = num(s), stat = num(z), pval = num(2 * pnorm(-abs(z))),
      ci_lb = num(d - qnorm(0.975) * s), ci_ub = num(d + qnorm(0.975) * s),
      bt = num(bt), bt_se = num(bse), bt_ci_lb = num(bt - qnorm(0.975) * bse),
      bt_ci_ub = num(bt + qnorm(0.975) * bse))
    L <- Xl[a, ] - Xl[bb, ]
    dc <- sum(L * res$beta); sc <- sqrt(c(t(L) %*% res$vb %*% L)); zc <- dc / sc
    pc <- if (test == "knha") 2 * pt(-abs(zc), res$k - res$p) else 2 * pnorm(-abs(zc))
    com[[length(com) + 1]] <- list(group_a = levs[a], group_b = levs[bb], diff = num(dc),
      se = num(sc), stat = num(zc), pval = num(pc), ci_lb = num(dc - crit_c * sc),
      ci_ub = num(dc + crit_c * sc))
  }
  holm_s <- p.adjust(sapply(sep, function(x) x$pval), method = "holm")
  holm_c <- p.adjust(sapply(com, function(x) x$pval), method = "holm")
  for (i in seq_along(sep)) { sep[[i]]$p_holm <- holm_s[i]; com[[i]]$p_holm <- holm_c[i] }
  list(name = name, measure = measure, method = method, test = test, levels = levs,
       groups = unname(groups),
       separate = list(Q = num(Qb), df = G - 1, pval = num(pchisq(Qb, G - 1, lower.tail = FALSE))),
       common = list(QM = num(res$QM), QMp = num(res$QMp), QMdf = vec(res$QMdf),
                     tau2 = num(res$tau2), predict = pred_numbers(pr), warnings = cm$warnings),
       contrasts_separate = sep, contrasts_common = com)
}

# inline ablation-like counts (complete ablation by modality; cryoablation has one study)
abl <- list(events = c(45, 38, 50, 27, 60, 33, 18), n = c(50, 45, 52, 31, 70, 36, 20),
            modality = c("RFA", "RFA", "MWA", "RFA", "MWA", "MWA", "cryoablation"),
            label = paste0("Abl-", LETTERS[1:7]),
            source = "inline complete-ablation-like counts; cryoablation is a single study")

sub_data <- list(bcg = bcg_data, debruin = deb_data, ablation_inline = abl)
subgroups <- list()
add_sub <- function(x) subgroups[[length(subgroups) + 1]] <<- x
for (method in c("REML", "DL", "FE", "PM")) for (test in TESTS) {
  x <- subgroup_case("bcg_alloc", bcg$yi, bcg$vi, as.character(bcg$alloc), "GEN", method, test)
  x$dataset <- "bcg"; x$by <- "alloc"; add_sub(x)
}
for (measure in c("PLO", "PAS")) for (method in c("REML", "DL")) for (test in TESTS) {
  e <- escalc(measure = measure, xi = xi, ni = ni, data = deb)
  x <- subgroup_case("debruin_ethnicity", e$yi, e$vi, as.character(deb$ethnicity), measure,
                     method, test)
  x$dataset <- "debruin"; x$by <- "ethnicity"; add_sub(x)
}
for (method in c("REML", "DL")) for (test in TESTS) {
  e <- escalc(measure = "PLO", xi = abl$events, ni = abl$n)
  x <- subgroup_case("ablation_modality", e$yi, e$vi, abl$modality, "PLO", method, test)
  x$dataset <- "ablation_inline"; x$by <- "modality"; add_sub(x)
}

# separate-tau^2 test on GLMM fits per group (rma.glmm, nAGQ = 7, with the tight lme4 controls
# GLMER_CTRL of glmm.R so that the fits are the exact maximum-likelihood solutions)
glmm_sub <- local({
  levs <- unique(as.character(deb$ethnicity))
  fits <- lapply(levs, function(l) {
    s <- deb[deb$ethnicity == l, ]
    r <- withCallingHandlers(
      rma.glmm(measure = "PLO", xi = xi, ni = ni, data = s, nAGQ = 7,
               control = list(glmerCtrl = GLMER_CTRL)),
      warning = function(w) if (grepl(LME4_UNUSED_CTRL, conditionMessage(w)))
        invokeRestart("muffleWarning"))
    list(k = r$k, b = num(r$beta), se = num(r$se), tau2 = num(r$tau2))
  })
  b <- sapply(fits, function(f) f$b); se <- sapply(fits, function(f) f$se); w <- 1 / se^2
  Qb <- sum(w * (b - sum(w * b) / sum(w))^2)
  list(name = "debruin_ethnicity_glmm", dataset = "debruin", by = "ethnicity", levels = levs,
       groups = fits, separate = list(Q = num(Qb), df = length(levs) - 1,
                                      pval = num(pchisq(Qb, length(levs) - 1, lower.tail = FALSE))))
})

# project study table: ablation outcomes grouped by modality (when the table has them), and
# every row with events/total grouped by modality (a numerical exercise on the table's numbers,
# not a clinically meaningful pooling: it mixes outcomes)
studies_note <- "data/studies.csv not present"
if (file.exists(STUDIES_CSV)) {
  st <- read.csv(STUDIES_CSV, stringsAsFactors = FALSE)
  studies_note <- paste0("data/studies.csv md5 ", studies_md5(), ", ", nrow(st), " rows")
  sel <- list(
    studies_ablation = st$outcome %in% c("complete_ablation", "local_progression"),
    studies_all_binary_rows = rep(TRUE, nrow(st)))
  for (nm in names(sel)) {
    rows <- st[sel[[nm]] & !is.na(st$events) & !is.na(st$total) & st$total > 0, , drop = FALSE]
    if (nrow(rows) >= 3 && length(unique(rows$modality)) >= 2) {
      if (nm == "studies_ablation") rows <- rows[rows$outcome == rows$outcome[1], , drop = FALSE]
      if (nrow(rows) < 3 || length(unique(rows$modality)) < 2) next
      sub_data[[nm]] <- list(events = vec(rows$events), n = vec(rows$total),
        modality = rows$modality, label = paste(rows$study_id, rows$outcome, sep = ":"),
        source = paste0("data/studies.csv rows selected as '", nm, "'"))
      for (method in c("REML", "DL")) for (test in TESTS) {
        e <- escalc(measure = "PLO", xi = rows$events, ni = rows$total)
        x <- subgroup_case(nm, e$yi, e$vi, rows$modality, "PLO", method, test)
        x$dataset <- nm; x$by <- "modality"; add_sub(x)
      }
    }
  }
}

# ---------------------------------------------------------------- permutation tests
perm <- list()
b6 <- bcg[1:6, ]
b8 <- bcg[1:8, ]
exact_cases <- list(
  list(name = "bcg6_ablat_REML_z", d = b6, f = ~ ablat, method = "REML", test = "z", mods = "ablat"),
  list(name = "bcg6_ablat_DL_knha", d = b6, f = ~ ablat, method = "DL", test = "knha", mods = "ablat"),
  list(name = "bcg6_ablat_year_FE_z", d = b6, f = ~ ablat + year, method = "FE", test = "z",
       mods = "ablat + year"),
  list(name = "bcg8_alloc_REML_z", d = b8, f = ~ alloc, method = "REML", test = "z", mods = "alloc"),
  list(name = "bcg6_intercept_REML_z", d = b6, f = NULL, method = "REML", test = "z", mods = NULL),
  list(name = "bcg6_intercept_PM_knha", d = b6, f = NULL, method = "PM", test = "knha", mods = NULL)
)
for (cs in exact_cases) {
  res <- if (is.null(cs$f)) rma(yi, vi, data = cs$d, method = cs$method, test = cs$test, control = CTRL) else
    rma(yi, vi, mods = cs$f, data = cs$d, method = cs$method, test = cs$test, control = CTRL)
  pt <- permutest(res, exact = TRUE, progbar = FALSE)
  perm[[length(perm) + 1]] <- list(name = cs$name, kind = "exact", rows = nrow(cs$d),
    mods = cs$mods, method = cs$method, test = cs$test, pval = vec(pt$pval), QMp = num(pt$QMp),
    exact_iter = num(pt$exact.iter), QM = num(res$QM), stat = vec(res$zval))
}
set.seed(20240614)
res_full <- rma(yi, vi, mods = ~ ablat + year, data = bcg, method = "REML", control = CTRL)
pt <- permutest(res_full, iter = 5000, progbar = FALSE)
perm[[length(perm) + 1]] <- list(name = "bcg_ablat_year_REML_random", kind = "random",
  rows = nrow(bcg), mods = "ablat + year", method = "REML", test = "z", iter = 5000,
  pval = vec(pt$pval), QMp = num(pt$QMp), exact_iter = num(pt$exact.iter))

out <- list(
  meta = list(metafor = as.character(packageVersion("metafor")),
              meta_installed = "meta" %in% rownames(installed.packages()),
              studies_csv = studies_note, control = CTRL),
  data = sub_data, bcg = bcg_data, debruin = deb_data,
  metareg = metareg, subgroups = subgroups, glmm_subgroups = list(glmm_sub),
  permutest = perm)
path <- write_fixture(out, "compare", pretty = FALSE, null = "list")
message("wrote ", path, ": ", length(metareg), " regressions, ",
        length(subgroups), " subgroup analyses, ", length(perm), " permutation tests")
