(function () {
  "use strict";
  var doc = document;
  doc.documentElement.className += " js";
  var annonce = doc.getElementById("annonce");
  var repli = doc.getElementById("repli");
  var corps = doc.body;
  // Beacons go to the link service named by the page (none in a copy opened from a file, or
  // when no service is configured). sendBeacon queues the request and never throws at us or
  // waits for it, so the page works the same when the service is down. A text/plain Blob is a
  // "simple" request: no CORS preflight.
  var balise = corps.getAttribute("data-balise");
  var baliser = !!(balise && navigator.sendBeacon && window.location.protocol !== "file:");

  function envoyer(post, evenement) {
    if (!baliser) { return; }
    var corpsBalise = JSON.stringify({
      edition: corps.getAttribute("data-edition"),
      segment: corps.getAttribute("data-segment"),
      theme: post.getAttribute("data-theme"),
      channel: post.getAttribute("data-canal"),
      // The angle of the version on screen (the night learns per angle), else the page's.
      angle: visible(post).getAttribute("data-angle") || corps.getAttribute("data-angle"),
      event: evenement
    });
    try { navigator.sendBeacon(balise, new Blob([corpsBalise], { type: "text/plain" })); } catch (e) { baliser = false; }
  }

  // variant_shown once per variant a person actually had on screen.
  var vus = {};
  function montree(post) {
    if (!post.getAttribute("data-visible")) { return; }
    var cle = post.id + "#" + (post.getAttribute("data-choix") || "0");
    if (vus[cle]) { return; }
    vus[cle] = true;
    envoyer(post, "variant_shown");
  }

  function dire(message) {
    annonce.textContent = "";
    window.setTimeout(function () { annonce.textContent = message; }, 30);
  }

  function variantes(post) { return post.querySelectorAll(".variante"); }
  function visible(post) { return post.querySelector(".variante:not([hidden])") || variantes(post)[0]; }
  function texte(post) { return visible(post).querySelector(".texte").textContent; }

  function choisir(post, index) {
    var toutes = variantes(post);
    for (var i = 0; i < toutes.length; i++) { toutes[i].hidden = i !== index; }
    post.setAttribute("data-choix", String(index));
    if (repli.parentNode === post) { repli.hidden = true; }
    montree(post);
  }

  // Old browsers, or pages opened outside a secure context, have no async clipboard.
  function copieAncienne(valeur) {
    return new Promise(function (resolve, reject) {
      var zone = doc.createElement("textarea");
      zone.value = valeur;
      zone.setAttribute("readonly", "");
      zone.className = "hors-ecran";
      doc.body.appendChild(zone);
      zone.select();
      var ok = false;
      try { ok = doc.execCommand("copy"); } catch (e) { ok = false; }
      doc.body.removeChild(zone);
      if (ok) { resolve(); } else { reject(new Error("copie impossible")); }
    });
  }

  function copier(post, bouton) {
    var valeur = texte(post);
    var essai = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(valeur).catch(function () { return copieAncienne(valeur); })
      : copieAncienne(valeur);
    essai.then(function () {
      envoyer(post, "copy");
      bouton.textContent = "Copié ✓";
      dire("Texte copié. Collez-le dans votre application.");
      window.setTimeout(function () { bouton.textContent = "Copier"; }, 2500);
    }, function () {
      var plage = doc.createRange();
      plage.selectNodeContents(visible(post).querySelector(".texte"));
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(plage);
      dire("Copie impossible : le texte est sélectionné, copiez-le à la main.");
    });
  }

  // The card preview is inline (data URI): sharing it needs no network and no delay, so the
  // tap's user activation is still valid when navigator.share runs.
  function fichierImage(post) {
    var image = doc.getElementById(post.getAttribute("data-apercu") || "");
    if (!image || typeof File === "undefined") { return null; }
    var source = image.getAttribute("src") || "";
    var virgule = source.indexOf(",");
    if (source.indexOf("data:image/jpeg;base64,") !== 0 || virgule < 0) { return null; }
    var binaire = window.atob(source.slice(virgule + 1));
    var octets = new Uint8Array(binaire.length);
    for (var i = 0; i < binaire.length; i++) { octets[i] = binaire.charCodeAt(i); }
    return new File([octets], (post.getAttribute("data-fichier") || "visuel") + ".jpg", { type: "image/jpeg" });
  }

  function liensDePartage(post) {
    var valeur = encodeURIComponent(texte(post));
    var lien = encodeURIComponent(visible(post).getAttribute("data-lien") || "");
    post.appendChild(repli);
    // One link per channel with a share link in channels.yaml: {text} and {link} filled in.
    var liens = repli.querySelectorAll("a[data-modele]");
    if (!liens.length) { dire("Partage impossible ici : copiez le texte."); return; }
    for (var i = 0; i < liens.length; i++) {
      liens[i].href = liens[i].getAttribute("data-modele").split("{text}").join(valeur).split("{link}").join(lien);
    }
    repli.hidden = false;
    liens[0].focus();
    dire(repli.getAttribute("data-annonce"));
  }

  function partager(post) {
    if (!navigator.share) { liensDePartage(post); return; }
    var donnees = { text: texte(post) };
    var fichier = null;
    try { fichier = fichierImage(post); } catch (e) { fichier = null; }
    if (fichier && navigator.canShare && navigator.canShare({ files: [fichier] })) { donnees.files = [fichier]; }
    navigator.share(donnees).then(function () { envoyer(post, "share"); dire("Partagé."); }, function (erreur) {
      if (!erreur || erreur.name !== "AbortError") { liensDePartage(post); }
    });
  }

  // Each version's chance (data-poids: what the night learnt its angle gets shared, summing
  // to 1); even chances when the page has none.
  function poids(post) {
    var toutes = variantes(post);
    var valeurs = [];
    for (var i = 0; i < toutes.length; i++) {
      var p = parseFloat(toutes[i].getAttribute("data-poids"));
      if (!(p >= 0)) { valeurs = null; break; }
      valeurs.push(p);
    }
    if (!valeurs) {
      valeurs = [];
      for (var j = 0; j < toutes.length; j++) { valeurs.push(1); }
    }
    return valeurs;
  }

  // Activists should not all post the same words: each phone draws its first version, the
  // versions that get shared more often drawn more often.
  function tirer(valeurs) {
    var total = 0;
    for (var i = 0; i < valeurs.length; i++) { total += valeurs[i]; }
    if (!(total > 0)) { return Math.floor(Math.random() * valeurs.length); }
    var seuil = Math.random() * total;
    for (var k = 0; k < valeurs.length; k++) {
      seuil -= valeurs[k];
      if (seuil < 0) { return k; }
    }
    return valeurs.length - 1;
  }

  // "Autre version" goes through the versions from the most to the least likely, then again.
  function autre(post) {
    var valeurs = poids(post);
    var ordre = [];
    for (var i = 0; i < valeurs.length; i++) { ordre.push(i); }
    ordre.sort(function (a, b) { return valeurs[b] - valeurs[a] || a - b; });
    var place = ordre.indexOf(Number(post.getAttribute("data-choix") || "0"));
    var suivant = ordre[(place + 1) % ordre.length];
    choisir(post, suivant);
    dire("Version " + (suivant + 1) + " sur " + ordre.length + ".");
  }

  var posts = doc.querySelectorAll(".post");
  for (var i = 0; i < posts.length; i++) {
    choisir(posts[i], tirer(poids(posts[i])));
  }

  // A post counts as shown once it is on screen (folded posts: once their fold is opened).
  function observer(entrees) {
    for (var j = 0; j < entrees.length; j++) {
      if (entrees[j].isIntersecting) {
        entrees[j].target.setAttribute("data-visible", "1");
        montree(entrees[j].target);
      }
    }
  }
  if (baliser && "IntersectionObserver" in window) {
    var vue = new IntersectionObserver(observer, { threshold: 0.3 });
    for (var k = 0; k < posts.length; k++) { vue.observe(posts[k]); }
  }

  doc.addEventListener("click", function (evenement) {
    if (!evenement.target.closest) { return; }
    var reseau = evenement.target.closest("a[data-reseau]");
    if (reseau && reseau.closest(".post")) { envoyer(reseau.closest(".post"), "share"); return; }
    var bouton = evenement.target.closest("button[data-action]");
    if (!bouton) { return; }
    var post = bouton.closest(".post");
    var action = bouton.getAttribute("data-action");
    if (action === "copier") { copier(post, bouton); }
    else if (action === "partager") { partager(post); }
    else if (action === "autre") { autre(post); }
  });
})();
