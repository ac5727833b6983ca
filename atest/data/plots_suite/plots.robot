*** Settings ***
Documentation    Draws one plot of each kind into log.html; atest/test_log_plots_browser.py opens the log
...              in headless Chromium and checks that every plot image decodes.

Library          Collections
Library          keywords.QwenServe


*** Test Cases ***
Every Kind Of Plot
    VAR    @{latencies}    12.5    13.1    11.9    30.2    14.4    12.2    15.0
    Plot Latency Distribution    ${latencies}    prompt latency    bound=${25}
    VAR    @{times}    0    1    2    3    4
    VAR    @{rss}    100    105    140    150    151
    VAR    &{marks}    1 session=${0}    5 sessions=${2}
    Plot Series    ${times}    ${rss}    RSS over time    markers=${marks}    ylabel=MB
    VAR    @{arrivals}    0.0    0.05    0.1    0.5    0.55    0.9
    Plot Events Per Second    ${arrivals}    events per second    bin_seconds=${0.25}
    VAR    @{labels}    p50    p99
    VAR    @{daemon}    12    31
    VAR    @{cli}    900    1400
    Plot Bars    ${labels}    daemon vs CLI    daemon=${daemon}    CLI=${cli}
