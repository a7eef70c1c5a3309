# Reference fixtures for the comparative (two-group) effect sizes and pooling: iometa.two_group,
# iometa.two_group_pool (pool_two_groups, pool_effects), iometa.mantel_haenszel and
# iometa.harbord. Writes tests/reference/two_group.json.
#
#   Rscript tests/reference/make_reference.R two_group
#
# Sourced by make_reference.R with REF_DIR set, after helpers.R (num, vec, CTRL, ALL_METHODS,
# TESTS, capture, write_fixture, ...). metafor is Debian's r-cran-metafor (version recorded in
# meta$metafor_version); metadat supplies the datasets.
#
# Conventions recorded here (metafor 3.8-1, from escalc, rma.mh and rma.peto):
#   * escalc OR/RR/RD: add = 1/2, to = "only0" (1/2 added to all four cells of a table with a
#     zero cell), drop00 = FALSE (a double-zero table keeps 1/2 in every cell); yi and vi use
#     the corrected counts. RD vtype "LS" (default), "UB" (n - 1), "AV" (n-weighted mean p).
#   * escalc MD: vi = sd1^2/n1 + sd2^2/n2; SMD: Hedges' g with the exact correction
#     c(m) = exp(lgamma(m/2) - log(sqrt(m/2)) - lgamma((m-1)/2)), m = n1 + n2 - 2; vtype LS,
#     LS2, UB, AV (AV uses the n-weighted mean of g); ROM: log(m1/m2), LS variance.
#   * rma.mh / rma.peto: add = c(1/2, 0), to = c("only0", "none"), drop00 = c(TRUE, FALSE):
#     the per-study yi/vi behind Q and I^2 are escalc(add = 1/2, to = "only0", drop00 = TRUE)
#     (double-zero tables have no yi, Q df = k.yi - 1); the pooled estimate and SE use the
#     uncorrected tables, including double-zero tables. CMH test with correct = TRUE.
#   * Harbord's test: there is no R package `meta` here, so the reference is the formula of
#     Harbord, Egger & Sterne (2006, Stat Med 25:3443) written out in R: Z = a - (a + c) n1/N
#     (efficient score), V = n1 n2 (a + c)(b + d) / (N^2 (N - 1)) (score variance) from the raw
#     counts of the tables with V > 0; ordinary least squares of Z/sqrt(V) on sqrt(V); the test
#     is the t (k - 2 df) of the intercept. It is checked below against the weighted regression
#     meta's metabias(method.bias = "Harbord") runs (metafor's regtest(model = "lm") on
#     yi = Z/V, sei = 1/sqrt(V), whose slope is that intercept).

# ---------------------------------------------------------------- datasets
bin_dataset <- function(a, n1, c, n2, labels, source) {
  list(kind = "binary", events_1 = vec(a), total_1 = vec(n1), events_2 = vec(c),
       total_2 = vec(n2), labels = I(as.character(labels)), source = source)
}
cont_dataset <- function(m1, sd1, n1, m2, sd2, n2, labels, source) {
  list(kind = "continuous", mean_1 = vec(m1), sd_1 = vec(sd1), n_1 = vec(n1), mean_2 = vec(m2),
       sd_2 = vec(sd2), n_2 = vec(n2), labels = I(as.character(labels)), source = source)
}

col <- dat.collins1985a[!is.na(dat.collins1985a$d.xti) & !is.na(dat.collins1985a$d.xci), ]
yus <- dat.yusuf1985[dat.yusuf1985$table == "6" & !is.na(dat.yusuf1985$ai), ]
cur <- dat.curtis1998[1:30, ]
datasets <- list(
  bcg = bin_dataset(dat.bcg$tpos, dat.bcg$tpos + dat.bcg$tneg, dat.bcg$cpos,
                    dat.bcg$cpos + dat.bcg$cneg, paste(dat.bcg$author, dat.bcg$year),
                    "metadat::dat.bcg (tpos/(tpos+tneg) vs cpos/(cpos+cneg)); no zero cells"),
  collins = bin_dataset(col$d.xti, col$nti, col$d.xci, col$nci, col$trial,
                        paste("metadat::dat.collins1985a, deaths d.xti/nti vs d.xci/nci, trials",
                              "with both counts; zero cells and two double-zero trials")),
  hine = bin_dataset(dat.hine1989$ai, dat.hine1989$n1i, dat.hine1989$ci, dat.hine1989$n2i,
                     dat.hine1989$source, "metadat::dat.hine1989 (k = 6, no zero cells)"),
  yusuf = bin_dataset(yus$ai, yus$n1i, yus$ci, yus$n2i, paste(yus$id, yus$trial),
                      paste("metadat::dat.yusuf1985 table 6 (complete tables): three",
                            "double-zero trials and a single-zero trial")),
  zeros_inline = bin_dataset(c(12, 0, 5, 0, 9, 20, 3), c(40, 30, 25, 18, 50, 20, 33),
                             c(7, 4, 0, 0, 14, 16, 3), c(41, 28, 27, 20, 48, 22, 30),
                             paste0("Z-", 1:7),
                             paste("inline: zero cells in either arm, a double-zero table",
                                   "(Z-4) and a table with all events in group 1 (Z-6)")),
  normand = cont_dataset(dat.normand1999$m1i, dat.normand1999$sd1i, dat.normand1999$n1i,
                         dat.normand1999$m2i, dat.normand1999$sd2i, dat.normand1999$n2i,
                         dat.normand1999$source, "metadat::dat.normand1999 (length of stay)"),
  curtis = cont_dataset(cur$m1i, cur$sd1i, cur$n1i, cur$m2i, cur$sd2i, cur$n2i,
                        paste0("curtis-", cur$id), "metadat::dat.curtis1998, rows 1-30"),
  small_inline = cont_dataset(c(10.2, 8.1, 12.5, 9.9, 11.0), c(2.1, 1.5, 3.2, 2.4, 0.9),
                              c(2, 3, 5, 12, 4), c(9.1, 8.8, 10.0, 9.0, 10.1),
                              c(1.9, 1.2, 2.5, 2.8, 1.1), c(3, 2, 6, 11, 4), paste0("S-", 1:5),
                              "inline: very small groups (n = 2 or 3), where the exact c(m) matters")
)
BIN <- names(datasets)[vapply(datasets, function(d) d$kind == "binary", logical(1))]
CONT <- setdiff(names(datasets), BIN)
num_of <- function(d, name) as.numeric(d[[name]])

es_bin <- function(d, measure, add = 1/2, to = "only0", vtype = "LS", drop00 = FALSE) {
  a <- num_of(d, "events_1"); n1 <- num_of(d, "total_1")
  c <- num_of(d, "events_2"); n2 <- num_of(d, "total_2")
  escalc(measure, ai = a, n1i = n1, ci = c, n2i = n2, add = add, to = to, vtype = vtype,
         drop00 = drop00)
}
es_cont <- function(d, measure, vtype = "LS") {
  escalc(measure, m1i = num_of(d, "mean_1"), sd1i = num_of(d, "sd_1"), n1i = num_of(d, "n_1"),
         m2i = num_of(d, "mean_2"), sd2i = num_of(d, "sd_2"), n2i = num_of(d, "n_2"),
         vtype = vtype)
}

# ---------------------------------------------------------------- escalc
effects <- list()
add_effects <- function(dname, measure, es, add = NA, to = NA, vtype = "LS", drop00 = FALSE) {
  effects[[length(effects) + 1]] <<- list(
    dataset = dname, measure = measure, add = add, to = to, vtype = vtype, drop00 = drop00,
    yi = vec(es$yi), vi = vec(es$vi))
}
for (dname in BIN) for (measure in c("OR", "RR", "RD")) {
  d <- datasets[[dname]]
  add_effects(dname, measure, es_bin(d, measure), 0.5, "only0")
  add_effects(dname, measure, es_bin(d, measure, to = "all"), 0.5, "all")
  add_effects(dname, measure, es_bin(d, measure, to = "if0all"), 0.5, "if0all")
  add_effects(dname, measure, es_bin(d, measure, add = 0.25), 0.25, "only0")
  add_effects(dname, measure, es_bin(d, measure, drop00 = TRUE), 0.5, "only0", drop00 = TRUE)
  if (measure == "RD") for (vt in c("UB", "AV")) {
    add_effects(dname, measure, es_bin(d, measure, vtype = vt), 0.5, "only0", vtype = vt)
  }
}
for (dname in CONT) {
  d <- datasets[[dname]]
  add_effects(dname, "MD", es_cont(d, "MD"))
  add_effects(dname, "ROM", es_cont(d, "ROM"))
  for (vt in c("LS", "LS2", "UB", "AV")) add_effects(dname, "SMD", es_cont(d, "SMD", vt), vtype = vt)
}

# ---------------------------------------------------------------- inverse-variance pooling
RATIO <- c("OR", "RR", "ROM")
fit_block <- function(res, ratio) {
  p <- if (ratio) predict(res, transf = exp) else predict(res)
  list(coef = num(res$beta), se = num(res$se), stat = num(res$zval), pval = num(res$pval),
       coef_ci_low = num(res$ci.lb), coef_ci_high = num(res$ci.ub), tau2 = num(res$tau2),
       q = num(res$QE), q_pval = num(res$QEp), i2 = num(res$I2), h2 = num(res$H2), k = res$k,
       df = num(res$ddf), estimate = num(p$pred), ci_low = num(p$ci.lb), ci_high = num(p$ci.ub),
       pi_low = num(p$pi.lb), pi_high = num(p$pi.ub))
}
pools <- list()
add_pool <- function(dname, measure, method, test, vtype = "LS", level = 95) {
  d <- datasets[[dname]]
  es <- if (d$kind == "binary") es_bin(d, measure, vtype = vtype) else es_cont(d, measure, vtype)
  fit <- capture(rma(es$yi, es$vi, method = method, test = test, level = level, control = CTRL))
  case <- list(dataset = dname, measure = measure, vtype = vtype, method = method, test = test,
               level = level, warnings = I(fit$warnings), error = fit$error)
  if (!is.null(fit$value)) case$fit <- fit_block(fit$value, measure %in% RATIO)
  pools[[length(pools) + 1]] <<- case
}
for (dname in BIN) for (measure in c("OR", "RR", "RD")) for (method in ALL_METHODS) {
  for (test in TESTS) add_pool(dname, measure, method, test)
}
for (dname in CONT) for (method in ALL_METHODS) for (test in TESTS) {
  add_pool(dname, "MD", method, test)
  add_pool(dname, "ROM", method, test)
  add_pool(dname, "SMD", method, test)
}
for (dname in CONT) for (vt in c("LS2", "UB", "AV")) for (method in c("FE", "DL", "REML", "PM")) {
  for (test in TESTS) add_pool(dname, "SMD", method, test, vtype = vt)
}
add_pool("bcg", "OR", "REML", "knha", level = 90)
add_pool("normand", "SMD", "DL", "z", level = 90)

# ---------------------------------------------------------------- Mantel-Haenszel and Peto
mh_block <- function(res, measure) {
  ratio <- measure != "RD"
  p <- if (ratio) predict(res, transf = exp) else predict(res)
  out <- list(coef = num(res$beta), se = num(res$se), stat = num(res$zval), pval = num(res$pval),
              coef_ci_low = num(res$ci.lb), coef_ci_high = num(res$ci.ub),
              estimate = num(p$pred), ci_low = num(p$ci.lb), ci_high = num(p$ci.ub),
              q = num(res$QE), q_pval = num(res$QEp), i2 = num(res$I2), h2 = num(res$H2),
              k = res$k, k_yi = res$k.yi, tau2 = num(res$tau2), yi = vec(res$yi),
              vi = vec(res$vi))
  if (measure == "OR" && inherits(res, "rma.mh")) {
    out <- c(out, list(cmh_stat = num(res$MH), cmh_pval = num(res$MHp), cochran_stat = num(res$CO),
                       cochran_pval = num(res$COp), breslow_day_stat = num(res$BD),
                       breslow_day_pval = num(res$BDp), tarone_stat = num(res$TA),
                       tarone_pval = num(res$TAp), k_pos = res$k.pos))
  }
  out
}
mh <- list()
add_mh <- function(dname, measure, method, level = 95) {
  d <- datasets[[dname]]
  args <- list(ai = num_of(d, "events_1"), n1i = num_of(d, "total_1"),
               ci = num_of(d, "events_2"), n2i = num_of(d, "total_2"), level = level)
  fit <- if (method == "MH") capture(do.call(rma.mh, c(args, measure = measure)))
         else capture(do.call(rma.peto, args))
  case <- list(dataset = dname, measure = measure, method = method, level = level,
               warnings = I(fit$warnings), error = fit$error)
  if (!is.null(fit$value)) case$fit <- mh_block(fit$value, measure)
  mh[[length(mh) + 1]] <<- case
}
for (dname in BIN) {
  for (measure in c("OR", "RR", "RD")) add_mh(dname, measure, "MH")
  add_mh(dname, "OR", "Peto")
}
add_mh("collins", "OR", "MH", level = 90)
add_mh("collins", "RD", "MH", level = 90)
add_mh("yusuf", "OR", "Peto", level = 90)

# ---------------------------------------------------------------- Harbord's test (formula)
harbord <- list()
for (dname in BIN) {
  d <- datasets[[dname]]
  a <- num_of(d, "events_1"); n1 <- num_of(d, "total_1")
  c <- num_of(d, "events_2"); n2 <- num_of(d, "total_2")
  N <- n1 + n2
  Z <- a - (a + c) * n1 / N
  V <- n1 * n2 * (a + c) * (N - a - c) / (N^2 * (N - 1))
  keep <- V > 0
  Z <- Z[keep]; V <- V[keep]
  fit <- lm(I(Z / sqrt(V)) ~ sqrt(V))
  cf <- coef(summary(fit))
  ci <- confint(fit, level = 0.95)
  # meta's route: weighted regression of Z/V on 1/sqrt(V); its slope is the intercept above
  rt <- regtest(rma(yi = Z / V, sei = 1 / sqrt(V), method = "FE"), model = "lm",
                predictor = "sei")
  stopifnot(isTRUE(all.equal(unname(coef(rt$fit)[2]), unname(cf[1, 1]), tolerance = 1e-10)),
            isTRUE(all.equal(unname(rt$zval), unname(cf[1, 3]), tolerance = 1e-10)))
  harbord[[dname]] <- list(
    k = sum(keep), used = I(which(keep) - 1L), score = vec(Z), score_var = vec(V),
    bias = num(cf[1, 1]), bias_se = num(cf[1, 2]), stat = num(cf[1, 3]), pval = num(cf[1, 4]),
    df = num(fit$df.residual), bias_ci_low = num(ci[1, 1]), bias_ci_high = num(ci[1, 2]),
    slope = num(cf[2, 1]), slope_se = num(cf[2, 2]))
}

# ---------------------------------------------------------------- leave-one-out of MH / Peto
loo <- list()
for (spec in list(c("collins", "OR", "MH"), c("collins", "RD", "MH"), c("yusuf", "OR", "Peto"),
                  c("hine", "RR", "MH"))) {
  d <- datasets[[spec[1]]]
  args <- list(ai = num_of(d, "events_1"), n1i = num_of(d, "total_1"),
               ci = num_of(d, "events_2"), n2i = num_of(d, "total_2"))
  fit <- suppressWarnings(if (spec[3] == "MH") do.call(rma.mh, c(args, measure = spec[2]))
                          else do.call(rma.peto, args))
  l1 <- suppressWarnings(leave1out(fit))
  loo[[length(loo) + 1]] <- list(dataset = spec[1], measure = spec[2], method = spec[3],
                                 estimate = vec(l1$estimate), se = vec(l1$se),
                                 pval = vec(l1$pval), q = vec(l1$Q), i2 = vec(l1$I2))
}

out <- list(
  meta = list(topic = "two_group", r_version = R.version.string,
              metafor_version = as.character(packageVersion("metafor")),
              metadat_version = as.character(packageVersion("metadat")),
              metafor_source = "Debian r-cran-metafor",
              date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"), rma_control = CTRL),
  datasets = datasets, effects = effects, pools = pools, mh = mh, harbord = harbord,
  leave_one_out = loo)
path <- write_fixture(out, "two_group", pretty = FALSE)
message("wrote ", path, " (", length(effects), " effect sets, ", length(pools), " pools, ",
        length(mh), " MH/Peto fits)")
