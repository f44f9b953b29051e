// hot's live reload: injected into HTML pages (and hot's own error page). It listens to
// hot's events and reloads the page once the new app is ready, swaps stylesheets for CSS-only
// changes, and shows the compiler output over the page while the build is broken.
(function () {
  if (window.__hot) return;
  window.__hot = true;
  var overlay = null;
  function show(output) {
    if (!overlay) {
      overlay = document.createElement('div');
      overlay.id = '__hot_overlay';
      overlay.setAttribute('role', 'alert');
      overlay.style.cssText =
        'position:fixed;inset:0;z-index:2147483647;overflow:auto;margin:0;padding:24px;' +
        'background:rgba(24,24,27,.96);color:#f4f4f5;font:13px/1.5 ui-monospace,Menlo,monospace';
      var title = document.createElement('div');
      title.style.cssText = 'color:#f87171;font-weight:bold;margin-bottom:12px';
      title.textContent = 'Build failed (hot). Fix it and save: this page reloads by itself.';
      var pre = document.createElement('pre');
      pre.style.cssText = 'white-space:pre-wrap;margin:0';
      overlay.appendChild(title);
      overlay.appendChild(pre);
      (document.body || document.documentElement).appendChild(overlay);
    }
    overlay.lastChild.textContent = output;
  }
  function hide() {
    if (overlay) {
      overlay.remove();
      overlay = null;
    }
  }
  var events = new EventSource('/__hot/events');
  events.addEventListener('reload', function () {
    location.reload();
  });
  events.addEventListener('css', function () {
    var links = document.querySelectorAll('link[rel="stylesheet"]');
    for (var i = 0; i < links.length; i++) {
      var url = new URL(links[i].href, location.href);
      url.searchParams.set('__hot', String(Date.now()));
      links[i].href = url.toString();
    }
  });
  events.addEventListener('build-failed', function (e) {
    show(JSON.parse(e.data).output);
  });
  events.addEventListener('build-ok', hide);
})();
