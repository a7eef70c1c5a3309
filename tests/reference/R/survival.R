# Reference fixtures for survival pooling (iometa.pool_medians, iometa.pool_survival_rates).
# Writes tests/reference/survival.json.
#
#   Rscript tests/reference/make_reference.R survival
#
# Sourced by make_reference.R with REF_DIR set (the tests/reference folder), after helpers.R
# (num, vec, CTRL, CI_CTRL, TESTS, Z975, write_fixture, ...).
#
# What is checked against what:
#   * medians with a CI / deaths (inverse-variance route): metafor::rma() on
#       log scale:      yi = log(m), sei = (log(U) - log(L)) / (2 * qnorm(.975))
#                       one-sided (upper limit not reached): sei = (log(m) - log(L)) / qnorm(.975)
#                       deaths only: sei = 1 / sqrt(d)            (var(ln M) = 1/d)
#       identity scale: yi = m, sei = (U - L) / (2 * qnorm(.975)), (m - L) / qnorm(.975),
#                       deaths: sei = m / sqrt(d)                 (delta method from 1/d)
#     back-transformed with predict(res, transf = exp) on the log scale.
#   * median of medians (MM) / weighted median of medians (WM): R metamedian is not installable
#     here, so the body of metamedian::pool.med (norm.approx = TRUE, coverage.prob = level) is
#     transcribed: prob = min(0.5, qnorm(0.5 * level + 0.5) / (2 * sqrt(k))), quantiles at
#     0.5 - prob, 0.5, 0.5 + prob by stats::quantile (type 7) for MM and Hmisc::wtd.quantile
#     (weights = n) for WM.
#   * survival rates: cloglog yi = log(-log(S)), vi = (1 - S) / (n S log(S)^2); logit
#     yi = log(S / (1 - S)), vi = 1 / (n S (1 - S)); S = 0 or 1: S' = (S n + 0.5) / (n + 1),
#     n' = n + 1; a reported CI (L, U) replaces vi by ((g(U) - g(L)) / (2 qnorm(.975)))^2.
#     Pooled with rma(); predict(res, transf = function(x) exp(-exp(x))) (or transf.ilogit),
#     which returns the limits sorted.
#
# JSON encoding as in helpers.R: NA -> null, NaN/Inf -> strings, 15 significant digits.
METHODS <- c("REML", "DL", "PM", "FE")

fit_one <- function(yi, vi, method, test, level, transf) {
  res <- suppressWarnings(rma(yi = yi, vi = vi, method = method, test = test,
                              level = 100 * level, control = CTRL))
  p <- predict(res)
  pt <- predict(res, transf = transf)
  out <- list(k = res$k, weights = vec(weights(res)), coef = num(res$beta[1]), se = num(res$se),
              stat = num(res$zval), pval = num(res$pval), coef_ci_low = num(res$ci.lb),
              coef_ci_high = num(res$ci.ub), coef_pi_low = num(p$pi.lb),
              coef_pi_high = num(p$pi.ub), tau2 = num(res$tau2), i2 = num(res$I2),
              h2 = num(res$H2), q = num(res$QE), q_pval = num(res$QEp),
              estimate = num(pt$pred), ci_low = num(pt$ci.lb), ci_high = num(pt$ci.ub),
              pi_low = num(pt$pi.lb), pi_high = num(pt$pi.ub))
  if (!is.element(res$method, c("FE", "EE", "CE")) && res$k > 1) {
    ci <- suppressWarnings(confint(res, control = CI_CTRL))$random
    out$tau2_ci <- vec(ci["tau^2", c("ci.lb", "ci.ub")])
  } else {
    out$tau2_ci <- vec(c(NA, NA))
  }
  out
}

# ---------------------------------------------------------------- medians (IV route)
median_sei <- function(m, L, U, d, scale) {
  g <- if (scale == "log") log else identity
  sapply(seq_along(m), function(i) {
    if (!is.na(L[i]) && is.finite(U[i])) return((g(U[i]) - g(L[i])) / (2 * Z975))
    if (!is.na(L[i])) return((g(m[i]) - g(L[i])) / Z975)        # upper not reached / missing
    if (scale == "log") 1 / sqrt(d[i]) else m[i] / sqrt(d[i])    # deaths
  })
}

median_data <- list(
  tare_ci = list(
    labels = c("Helmlinger 2021", "Gordon 2014", "Fendler 2016", "Newbury ref22",
               "Newbury ref26"),
    median = c(10.6, 6.6, 8.0493, 11.3, 12.3),
    ci_low = c(7.3, 4.9, 6.1, 8.2, 9.0), ci_high = c(14.4, 8.8, 10.9, 15.6, 16.1),
    deaths = c(NA, NA, NA, NA, NA),
    source = paste("liver TARE median OS (months) from data/studies.csv; CI of Helmlinger",
                   "2021 as reported, the other CIs made up but plausible")),
  ablation_one_sided = list(
    labels = c("Meloni 2009", "Jakobs 2009", "Vogl 2018", "Wang 2015"),
    median = c(29.9, 58.6, 41.8, 33.0),
    ci_low = c(22.1, 41.3, 33.0, 25.4), ci_high = c(38.5, Inf, NA, 40.6),
    deaths = c(NA, NA, NA, NA),
    source = paste("ablation median OS from data/studies.csv with made-up CIs; Jakobs 2009",
                   "upper limit not reached (Inf), Vogl 2018 upper limit missing (NA)")),
  tace_deaths = list(
    labels = c("Vogl 2010 gem", "Vogl 2010 MMC", "Vogl 2010 MMC+gem", "Martin 2012",
               "Lin 2017"),
    median = c(11.0, 13.3, 24.8, 47.0, 17.0),
    ci_low = c(NA, 10.9, NA, 31.0, NA), ci_high = c(NA, 15.7, NA, 63.0, NA),
    deaths = c(60, NA, 41, NA, 22),
    source = paste("liver TACE median OS from data/studies.csv; made-up CIs and numbers of",
                   "deaths (deaths route: var(ln M) = 1/d)")),
  pair = list(
    labels = c("Meloni 2009", "Wang 2015"), median = c(29.9, 33.0),
    ci_low = c(22.1, 25.4), ci_high = c(38.5, 40.6), deaths = c(NA, NA),
    source = "k = 2 with overlapping CIs (tau^2 = 0 for most estimators)")
)

median_cases <- list()
for (dname in names(median_data)) {
  d <- median_data[[dname]]
  for (scale in c("log", "identity")) {
    sei <- median_sei(d$median, d$ci_low, d$ci_high, d$deaths, scale)
    yi <- if (scale == "log") log(d$median) else d$median
    transf <- if (scale == "log") exp else function(x) x
    for (level in c(0.95, 0.90)) {
      for (method in METHODS) {
        for (test in TESTS) {
          if (level != 0.95 && !(method %in% c("REML", "DL"))) next
          id <- paste(dname, scale, method, test, sep = "-")
          if (level != 0.95) id <- paste0(id, "-L90")
          case <- list(id = id, dataset = dname, scale = scale, method = method, test = test,
                       level = level, labels = I(d$labels), median = vec(d$median),
                       study_ci_low = vec(d$ci_low), study_ci_high = vec(d$ci_high),
                       deaths = vec(d$deaths), yi = vec(yi), vi = vec(sei^2))
          median_cases[[length(median_cases) + 1]] <- c(case, fit_one(yi, sei^2, method, test,
                                                                      level, transf))
        }
      }
    }
  }
}

# ---------------------------------------------------------------- median of medians (MM, WM)
pool_med <- function(yi, wi = NULL, level = 0.95) {
  # body of metamedian::pool.med(yi, wi, norm.approx = TRUE, coverage.prob = level)
  k <- length(yi)
  prob <- min(0.5, qnorm(0.5 * level + 0.5) / (2 * sqrt(k)))
  probs <- c(0.5 - prob, 0.5, 0.5 + prob)
  q <- if (is.null(wi)) unname(quantile(yi, probs = probs)) else
    unname(Hmisc::wtd.quantile(yi, weights = wi, probs = probs))
  list(estimate = q[2], ci_low = q[1], ci_high = q[3], probs = vec(probs))
}

mm_data <- list(
  bare_medians = list(
    median = c(29.9, 58.6, 41.8, 47.0, 17.0, 11.0, 13.3, 24.8),
    n = c(52, 43, 38, 61, 27, 70, 69, 69),
    source = "median OS values of data/studies.csv (liver); n partly made up"),
  ties = list(median = c(10, 10, 20, 30, 30, 12.5), n = c(5, 15, 20, 8, 12, 30),
              source = "ties between study medians (Hmisc pools the weights of tied values)"),
  nonint_weights = list(median = c(6.6, 8.0493, 10.6, 11.3, 12.3, 17.2, 16.5),
                        n = c(7.5, 81, 47.25, 12, 30.5, 26, 26),
                        source = "non-integer weights (effective sample sizes)")
)
mm_cases <- list()
for (dname in names(mm_data)) {
  d <- mm_data[[dname]]
  for (k in seq_along(d$median)) {
    for (level in c(0.95, 0.90, 0.80)) {
      for (weighted in c(FALSE, TRUE)) {
        m <- d$median[seq_len(k)]
        w <- if (weighted) d$n[seq_len(k)] else NULL
        r <- pool_med(m, w, level)
        mm_cases[[length(mm_cases) + 1]] <- c(list(
          id = paste(dname, paste0("k", k), if (weighted) "WM" else "MM", level, sep = "-"),
          route = if (weighted) "wm" else "mm", level = level, median = vec(m),
          n = if (weighted) vec(w) else NA), r)
      }
    }
  }
}

# ---------------------------------------------------------------- survival rates
rate_effects <- function(S, n, L, U, scale) {
  g <- if (scale == "cloglog") function(s) log(-log(s)) else function(s) log(s / (1 - s))
  v <- if (scale == "cloglog") function(s, n) (1 - s) / (n * s * log(s)^2) else
    function(s, n) 1 / (n * s * (1 - s))
  ext <- S == 0 | S == 1
  Sc <- ifelse(ext, (S * n + 0.5) / (n + 1), S)
  nc <- ifelse(ext, n + 1, n)
  yi <- g(Sc)
  vi <- v(Sc, nc)
  has_ci <- !is.na(L) & !is.na(U)
  vi[has_ci] <- ((g(L[has_ci]) - g(U[has_ci])) / (2 * Z975))^2
  list(yi = yi, vi = vi, corrected = ext)
}

rate_data <- list(
  os12_lung = list(labels = c("Wang 2015", "McMenomy 2013", "Zhang 2014", "Rate-D", "Rate-E"),
                   rate = c(0.886, 0.91, 0.706, 0.84, 0.79), n = c(35, 60, 17, 45, 28),
                   ci_low = rep(NA, 5), ci_high = rep(NA, 5),
                   source = "1-year OS rates of data/studies.csv (n of McMenomy 2013 made up) + 2 made up"),
  os12_with_100 = list(labels = c("All-alive", "Rate-B", "Rate-C", "Rate-D"),
                       rate = c(1, 0.92, 0.875, 0.8), n = c(12, 25, 40, 30),
                       ci_low = rep(NA, 4), ci_high = rep(NA, 4),
                       source = "one '100% 1-year survival' study (0.5 added to survivors and deaths)"),
  os60_with_0 = list(labels = c("None-alive", "Meloni 2009", "Rate-C"),
                     rate = c(0, 0.27, 0.2), n = c(8, 52, 30),
                     ci_low = rep(NA, 3), ci_high = rep(NA, 3),
                     source = "one 0% 5-year survival study (0.5 added to survivors and deaths)"),
  os12_reported_ci = list(labels = c("Wang 2015", "McMenomy 2013", "Zhang 2014", "Rate-D"),
                          rate = c(0.886, 0.91, 0.706, 0.84), n = c(35, 60, 17, 45),
                          ci_low = c(NA, 0.80, 0.44, NA), ci_high = c(NA, 0.96, 0.87, NA),
                          source = "reported KM CIs (made up) override the binomial variance")
)
rate_cases <- list()
for (dname in names(rate_data)) {
  d <- rate_data[[dname]]
  for (scale in c("cloglog", "logit")) {
    e <- rate_effects(d$rate, d$n, d$ci_low, d$ci_high, scale)
    transf <- if (scale == "cloglog") function(x) exp(-exp(x)) else transf.ilogit
    for (method in METHODS) {
      for (test in TESTS) {
        case <- list(id = paste(dname, scale, method, test, sep = "-"), dataset = dname,
                     scale = scale, method = method, test = test, level = 0.95,
                     labels = I(d$labels), rate = vec(d$rate), n = vec(d$n),
                     study_ci_low = vec(d$ci_low), study_ci_high = vec(d$ci_high),
                     yi = vec(e$yi),
                     vi = vec(e$vi), corrected = I(e$corrected))
        rate_cases[[length(rate_cases) + 1]] <- c(case, fit_one(e$yi, e$vi, method, test,
                                                                0.95, transf))
      }
    }
  }
}

# ---------------------------------------------------------------- the project study table
# Selection (mirrored in tests/test_survival.py): outcome median_os (finite value) or os_rate
# (value and n_patients present), site liver, modality in the listed set.
table_cases <- list()
studies_note <- "data/studies.csv not present when the fixtures were generated"
if (file.exists(STUDIES_CSV)) {
  st <- read.csv(STUDIES_CSV, stringsAsFactors = FALSE, na.strings = c("", "NA"))
  studies_note <- paste0("data/studies.csv present (md5 ", studies_md5(), ", ", nrow(st),
                         " rows)")
  st$value_num <- suppressWarnings(as.numeric(st$value))
  st$n_num <- suppressWarnings(as.numeric(st$n_patients))
  groups <- list(liver_ablation = c("RFA", "MWA"), liver_tace_tare = c("TACE", "DEB-TACE", "TARE"))
  for (g in names(groups)) {
    rows <- st[st$outcome == "median_os" & st$site == "liver" & st$modality %in% groups[[g]] &
                 is.finite(st$value_num), , drop = FALSE]
    if (nrow(rows) >= 1) {
      all_n <- all(!is.na(rows$n_num))
      r <- pool_med(rows$value_num, if (all_n) rows$n_num else NULL, 0.95)
      table_cases[[length(table_cases) + 1]] <- c(list(
        id = paste0("median_os-", g), outcome = "median_os", modalities = I(groups[[g]]),
        route = if (all_n) "wm" else "mm", labels = I(rows$study_id), median = vec(rows$value_num),
        n = vec(rows$n_num)), r)
    }
    rows <- st[st$outcome == "os_rate" & st$site == "liver" & st$modality %in% groups[[g]] &
                 !is.na(st$value_num) & !is.na(st$n_num), , drop = FALSE]
    for (t in sort(unique(rows$timepoint_months))) {
      rt <- rows[rows$timepoint_months == t, , drop = FALSE]
      e <- rate_effects(rt$value_num, rt$n_num, rep(NA, nrow(rt)), rep(NA, nrow(rt)), "cloglog")
      table_cases[[length(table_cases) + 1]] <- c(list(
        id = paste0("os_rate-", g, "-t", t), outcome = "os_rate", modalities = I(groups[[g]]),
        time = t, labels = I(rt$study_id), rate = vec(rt$value_num), n = vec(rt$n_num),
        yi = vec(e$yi), vi = vec(e$vi)),
        fit_one(e$yi, e$vi, "REML", "z", 0.95, function(x) exp(-exp(x))))
    }
  }
}

out <- list(
  meta = list(
    topic = "survival", r_version = R.version.string,
    metafor_version = as.character(packageVersion("metafor")),
    hmisc_version = as.character(packageVersion("Hmisc")),
    date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"), rma_control = CTRL,
    confint_control = CI_CTRL, studies_csv = studies_note,
    pool_med = paste("metamedian::pool.med body transcribed (norm.approx = TRUE):",
                     "stats::quantile type 7 (MM), Hmisc::wtd.quantile (WM)")),
  datasets = list(median = median_data, mm = mm_data, rate = rate_data),
  median_cases = median_cases, mm_cases = mm_cases, rate_cases = rate_cases,
  table_cases = table_cases
)
path <- write_fixture(out, "survival", pretty = TRUE)
message("wrote ", path, " (", length(median_cases), " median, ", length(mm_cases), " MM/WM, ",
        length(rate_cases), " rate, ", length(table_cases), " study-table cases)")
